//! `serve`: open the database, migrate, register this instance, serve until SIGTERM/SIGINT,
//! drain in-flight requests, record the stop.

use std::sync::Arc;

use domain::{system, Ctx, Database, Instance};
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::{cli::RunError, config::Config, http, http::metrics::Metrics, state::AppState};

/// Serves until a shutdown signal, then drains for at most `shutdown_grace`.
pub async fn run(config: Config) -> Result<(), RunError> {
    tracing::info!(version = domain::VERSION, database = %config.database_url, "starting");
    let db = Database::connect(&config.database_url, &config.database).await?;
    db.migrate_up().await.map_err(RunError::Migrate)?;
    if let Some(password) =
        domain::access::users::ensure_initial_admin(&db, config.auth.admin_password.clone()).await?
    {
        // Printed once, on the very first start; MCPO_ADMIN_PASSWORD avoids it.
        tracing::warn!(username = "admin", password = %password, "created the initial admin with a random password; change it after signing in");
    }
    let instance = Instance::register(&db).await?;
    let mut ctx = Ctx::new(db, instance);
    ctx.secret_key = Some(Arc::new(crate::secret_key::load(&config.secret_key_file)?));
    ctx.registry = Arc::new(config.registry.clone());
    ctx.deployments = Arc::new(domain::deployments::Manager::new(config.deploy.clone()));
    ctx.deployments.init(&ctx).await?;
    ctx.pipeline = Arc::new(domain::pipeline::Pipeline::new(config.pipeline.clone()));
    ctx.monitor = Arc::new(domain::monitor::Monitor::new(config.health.clone()));
    if let Err(e) = domain::deployments::reconcile(&ctx).await {
        tracing::warn!(error = %e, "could not reconcile deployments");
    }
    let sessions = domain::access::session_store::DbSessionStore::new(ctx.db.conn.clone());
    let session_cleanup = tokio::spawn(
        tower_sessions::session_store::ExpiredDeletion::continuously_delete_expired(
            sessions,
            std::time::Duration::from_secs(300),
        ),
    );

    let state = AppState {
        ctx: ctx.clone(),
        metrics: Arc::new(Metrics::new(&ctx.metrics, config.deploy.docker)),
        leptos: leptos_options(&config),
        body_limit: config.body_limit,
        session_absolute: config.auth.session_absolute,
        session_idle: config.auth.session_idle,
        secure_cookies: config.secure_cookies(),
        limiters: Arc::new(http::rate_limit::Limiters::new(&config.rate_limit)),
        login_per_minute: config.rate_limit.login_per_minute,
        hsts: config.hsts,
        cors_origins: config.cors_origins.clone(),
        oidc: match config.auth.oidc.clone() {
            Some(c) => Some(Arc::new(
                http::oidc::Oidc::new(c).map_err(RunError::Config)?,
            )),
            None => None,
        },
    };
    let app = http::router(state);

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(RunError::Serve)?;
    let shutdown = shutdown_signal();
    tracing::info!(addr = %addr, instance_id = %ctx.instance.id, "listening");

    let heartbeat = tokio::spawn(heartbeat(ctx.clone()));
    let trimmer = tokio::spawn(crate::memory::trim_when_quiet());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = {
        let mut stop_rx = stop_tx.subscribe();
        tokio::spawn(domain::deployments::watch(
            ctx.clone(),
            std::time::Duration::from_secs(2),
            async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            },
        ))
    };
    let monitor = {
        let mut stop_rx = stop_tx.subscribe();
        tokio::spawn(domain::monitor::run(ctx.clone(), async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }))
    };
    let scheduler = {
        let mut stop_rx = stop_tx.subscribe();
        tokio::spawn(domain::registries::scheduler::run(
            ctx.clone(),
            async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            },
        ))
    };
    let workers = {
        let mut stop_rx = stop_tx.subscribe();
        tokio::spawn(domain::pipeline::worker::run(ctx.clone(), async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }))
    };
    let server = tokio::spawn(async move {
        let mut stop_rx = stop_rx;
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        })
        .await
    });

    shutdown.await;
    tracing::info!(
        grace_seconds = config.shutdown_grace.as_secs(),
        "shutting down: draining in-flight requests"
    );
    let _ = stop_tx.send(true);
    match tokio::time::timeout(config.shutdown_grace, server).await {
        Ok(Ok(Ok(()))) => tracing::info!("drained"),
        Ok(Ok(Err(e))) => return Err(RunError::Serve(e)),
        Ok(Err(join)) => tracing::error!(error = %join, "server task failed"),
        Err(_) => tracing::warn!("grace period over; closing the remaining connections"),
    }
    // Runs executing here stop: back to the queue before `deploy`, rolled back after it.
    if tokio::time::timeout(config.shutdown_grace, workers)
        .await
        .is_err()
    {
        tracing::warn!("pipeline runs did not stop within the grace period");
    }
    heartbeat.abort();
    trimmer.abort();
    scheduler.abort();
    watcher.abort();
    // The minutes under way are written before the sessions end.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), monitor).await;
    domain::deployments::shutdown_all(&ctx).await;
    session_cleanup.abort();
    if let Err(e) = system::mark_stopped(&ctx).await {
        tracing::warn!(error = %e, "could not record the stop");
    }
    ctx.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Where the built site lives; the file base name is fixed at build time by cargo-leptos.
fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(option_env!("LEPTOS_OUTPUT_NAME").unwrap_or("mcp-orchestrator"))
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build()
}

async fn heartbeat(ctx: Ctx) {
    let mut tick = tokio::time::interval(system::HEARTBEAT_INTERVAL);
    tick.tick().await; // the first tick is immediate; registration just wrote the row
    loop {
        tick.tick().await;
        if let Err(e) = system::heartbeat(&ctx).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called,
/// not when the future is first polled: call it before announcing readiness, or a signal
/// arriving in between kills the process without a drain.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received");
    }
}
