//! tidings-api
