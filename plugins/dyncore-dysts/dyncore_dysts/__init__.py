"""dyncore-dysts: dysts' continuous-time chaotic systems as dyncore Systems named ``dysts.<Name>``."""
