"""afmio-toy: a test plugin adding ``.toy`` files and overriding ``.npz`` for toy archives."""
