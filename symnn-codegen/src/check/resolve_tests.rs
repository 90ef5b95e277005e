//! Resolution tests: the structure of the resolved program.
