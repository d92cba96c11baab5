"""The ``ecert`` command line: operators' and scripts' face of the gateway."""
