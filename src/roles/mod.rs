//! Long-running roles of the binary.

pub(crate) mod api;
pub(crate) mod api_args;
pub(crate) mod bus_args;
pub(crate) mod dev;
pub(crate) mod gateway;
pub(crate) mod gateway_args;
pub(crate) mod glue;
pub(crate) mod signals;
pub(crate) mod wt_args;

/// Runs a role's async main on a multi-threaded runtime.
pub(crate) fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(
    main: F,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(Box::pin(main))
}
