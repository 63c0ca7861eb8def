//! Readiness of this process: is the database reachable, is the schema current?

use std::time::{Duration, Instant};

use types::{HealthCheck, HealthReport, HealthStatus};

use crate::{Ctx, VERSION};

/// Longest a single check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs every readiness check, in a fixed order: `database`, then `migrations`.
pub async fn report(ctx: &Ctx) -> HealthReport {
    let database = timed("database", async {
        ctx.db
            .ping()
            .await
            .map_err(|_| "the database did not answer".to_owned())
    })
    .await;
    let migrations = if database.status == HealthStatus::Pass {
        timed("migrations", async {
            let all = ctx
                .db
                .migrations()
                .await
                .map_err(|_| "cannot read migration state")?;
            let pending = all.iter().filter(|(_, applied)| !applied).count();
            if pending == 0 {
                Ok(())
            } else {
                Err(format!("{pending} migration(s) not applied"))
            }
        })
        .await
    } else {
        HealthCheck {
            name: "migrations".into(),
            status: HealthStatus::Fail,
            duration_ms: 0.0,
            reason: Some("not checked: the database is unreachable".into()),
        }
    };
    let checks = vec![database, migrations];
    let status = if checks.iter().all(|c| c.status == HealthStatus::Pass) {
        HealthStatus::Pass
    } else {
        HealthStatus::Fail
    };
    HealthReport {
        status,
        version: VERSION.to_owned(),
        uptime_seconds: ctx.instance.uptime_seconds(),
        checks,
    }
}

async fn timed<E: Into<String>>(
    name: &str,
    check: impl std::future::Future<Output = Result<(), E>>,
) -> HealthCheck {
    let start = Instant::now();
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(format!("timed out after {} ms", CHECK_TIMEOUT.as_millis())),
    };
    HealthCheck {
        name: name.to_owned(),
        status: if outcome.is_ok() {
            HealthStatus::Pass
        } else {
            HealthStatus::Fail
        },
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        reason: outcome.err(),
    }
}
