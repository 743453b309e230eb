"""Sample tests that the runtime's own tests run, in process and through
``rotest run``. Their file names do not start with ``test`` so that pytest
leaves them alone."""
