//! End-to-end tests of obup live in `tests/`: they run the services the way
//! `obup dev` wires them, across restarts, and talk to them only through
//! their public APIs.
