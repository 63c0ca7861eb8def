//! Readiness of this process: is the database reachable, is the schema current?

use std::time::{Duration, Instant};

use types::{HealthCheck, HealthReport, HealthStatus};

use crate::{Ctx, DomainError, VERSION};

/// Longest a single check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest the database check waits to see whether a write could begin.
const WRITE_PROBE_WAIT: Duration = Duration::from_secs(1);

/// Runs every readiness check, in a fixed order: `database`, `migrations`, then `docker`
/// (when Docker is enabled).
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
    // SQLite serves reads while another process holds its write lock, but no write: say so
    // (a warning: the instance still serves).
    let mut database = database;
    if database.status == HealthStatus::Pass {
        if let Err(fault) = ctx.db.probe_writes(WRITE_PROBE_WAIT).await {
            database.status = HealthStatus::Warn;
            database.reason = Some(format!("{}: reads serve, writes fail", fault.describe()));
        }
    }
    let mut checks = vec![database, migrations];
    // The Docker engine: deployments need it, the API and dashboard do not. Its absence
    // degrades the instance (`warn`) instead of taking it out of service.
    if let Some(mut docker) = docker_check(ctx).await {
        if docker.status == HealthStatus::Fail {
            docker.status = HealthStatus::Warn;
        }
        checks.push(docker);
    }
    let status = if checks.iter().any(|c| c.status == HealthStatus::Fail) {
        HealthStatus::Fail
    } else if checks.iter().any(|c| c.status == HealthStatus::Warn) {
        HealthStatus::Warn
    } else {
        HealthStatus::Pass
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

/// Probes the Docker engine (`None` when Docker is disabled).
async fn docker_check(ctx: &Ctx) -> Option<HealthCheck> {
    let start = Instant::now();
    let up = ctx.deployments.probe_docker().await?;
    ctx.metrics.docker_up.set(i64::from(up));
    Some(HealthCheck {
        name: "docker".into(),
        status: if up {
            HealthStatus::Pass
        } else {
            HealthStatus::Fail
        },
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        reason: (!up).then(|| "the Docker engine does not answer".to_owned()),
    })
}

/// This instance in detail (admins): database, Docker engine, workers, queue, CPU, memory,
/// threads.
pub async fn detailed(
    ctx: &Ctx,
    caller: &crate::access::Caller,
) -> Result<types::SystemHealth, DomainError> {
    caller.require(types::Role::Admin)?;
    let t0 = Instant::now();
    let db_ok = tokio::time::timeout(CHECK_TIMEOUT, ctx.db.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    ctx.metrics.database_up.set(i64::from(db_ok));
    let database = types::ComponentHealth {
        status: if db_ok {
            HealthStatus::Pass
        } else {
            HealthStatus::Fail
        },
        latency_ms: t0.elapsed().as_secs_f64() * 1000.0,
        detail: Some(ctx.db.backend.label().to_owned()),
    };
    let docker = docker_check(ctx).await.map(|c| types::ComponentHealth {
        status: c.status,
        latency_ms: c.duration_ms,
        detail: c.reason.or_else(|| Some("answers".to_owned())),
    });
    let queue_depth = if db_ok {
        crate::pipeline::queue_depth(ctx).await.unwrap_or(0)
    } else {
        0
    };
    let status = if !db_ok {
        HealthStatus::Fail
    } else if docker
        .as_ref()
        .is_some_and(|d| d.status != HealthStatus::Pass)
    {
        HealthStatus::Warn
    } else {
        HealthStatus::Pass
    };
    let proc = process_status();
    Ok(types::SystemHealth {
        status,
        version: VERSION.to_owned(),
        instance_id: ctx.instance.id.clone(),
        uptime_seconds: ctx.instance.uptime_seconds(),
        database,
        docker,
        workers: ctx.pipeline.settings().concurrency as u32,
        workers_busy: ctx.pipeline.busy() as u32,
        queue_depth,
        live_deployments: ctx.deployments.live_count().await as u32,
        checks_in_flight: ctx.monitor.in_flight(),
        cpu_percent: crate::monitor::cpu_percent(ctx),
        memory_rss_bytes: proc.0,
        threads: proc.1,
    })
}

/// CPU time this process used so far (user + system), in seconds (Linux `/proc`).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some((utime + stime) / if ticks > 0 { ticks as f64 } else { 100.0 })
}

/// (resident memory in bytes, threads) of this process (Linux `/proc`).
pub fn process_status() -> (u64, u32) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:") * 1024, field("Threads:") as u32)
}
