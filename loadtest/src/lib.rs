//! tidings-loadtest
