//! Server functions called by the dashboard. Each body is a thin adapter over `domain`.

use leptos::prelude::*;
use types::SystemInfo;

/// Version, database, uptime and counts for the Overview page.
#[server(prefix = "/ui/fn", endpoint = "system_info")]
pub async fn get_system_info() -> Result<SystemInfo, ServerFnError> {
    let ctx = use_context::<domain::Ctx>()
        .ok_or_else(|| ServerFnError::new("the service layer is not available"))?;
    domain::system::info(&ctx).await.map_err(|e| {
        tracing::error!(error = %e, "get_system_info failed");
        ServerFnError::new("The database is unavailable; try again shortly.")
    })
}
