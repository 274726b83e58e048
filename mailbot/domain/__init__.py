"""The pure core: forms, classification, workflow decisions and obligations.

Nothing in this package performs I/O, imports SQLAlchemy or reads the clock;
callers pass ``now`` and plain values in and get plain values (effects) out.
"""
