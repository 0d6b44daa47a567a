"""What every package of the project shares: the root of its errors (:mod:`splitbrain.errors`)."""
