"""gridctl: the one command line for gridpipe."""
