//! tidings-gateway
