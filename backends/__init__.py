"""Backend adapters (shipped as ``unified_nas.backends``); each subpackage exports ``Backend``."""
