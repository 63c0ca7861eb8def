//! Command line: `serve` (default), `migrate up|down|status`, `config check`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use domain::Database;

use crate::config::{Config, Layers};

/// MCP Orchestrator: turns MCP server entries from registries into running, watched servers.
#[derive(Debug, Parser)]
#[command(name = "mcp-orchestrator", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file (layered over the defaults, under MCPO_* environment variables).
    #[arg(long, short, global = true, env = "MCPO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Debug, Default, Subcommand)]
pub enum Command {
    /// Serve the dashboard, the JSON API, health and metrics (the default).
    #[default]
    Serve,
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage users.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Manage API keys (for scripted set-ups).
    ApiKeys {
        #[command(subcommand)]
        action: ApiKeysAction,
    },
    /// Manage the secret store.
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Exit 0 if the server on `listen` answers `/health/live` (for container HEALTHCHECKs).
    Healthcheck,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// Schema actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the newest migration(s).
    Down {
        /// How many to roll back.
        #[arg(long, short = 'n', default_value_t = 1, conflicts_with = "all")]
        steps: u32,
        /// Roll back every migration.
        #[arg(long)]
        all: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// User actions.
#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Set a new password for a local user and clear any lock; prints the password.
    ResetPassword {
        /// The user name.
        name: String,
        /// Read the new password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// API key actions.
#[derive(Debug, Subcommand)]
pub enum ApiKeysAction {
    /// Create a key and print it (once).
    Create {
        /// A label for the key.
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: types::Role,
    },
}

/// Secret-store actions.
#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Generate a new key and re-encrypt every secret with it, in one transaction. With a key
    /// file, the old key is kept as `<file>.old`; with MCPO_SECRET_KEY, the new key is printed
    /// for you to store.
    RotateKey,
}

/// Configuration actions.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration and print every effective setting (secrets redacted).
    Check,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] domain::db::ConnectError),
    #[error("migration failed: {0}")]
    Migrate(domain::db::DbErr),
    #[error(transparent)]
    Domain(#[from] domain::DomainError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Secrets(#[from] domain::secrets::SecretError),
    #[error("unhealthy: {0}")]
    Unhealthy(String),
}

/// Runs one command to completion.
pub async fn run(command: Command, config: Config, layers: Layers) -> Result<(), RunError> {
    match command {
        Command::Serve => crate::serve::run(config).await,
        Command::Healthcheck => {
            crate::healthcheck::probe(config.listen).map_err(RunError::Unhealthy)
        }
        Command::Config {
            action: ConfigAction::Check,
        } => {
            for s in layers.describe(&config).settings {
                let origin = layers
                    .origin(&s.key)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                println!("{} = {}    # {}, from {}", s.key, s.value, s.env, origin);
            }
            Ok(())
        }
        Command::Users {
            action:
                UsersAction::ResetPassword {
                    name,
                    password_stdin,
                },
        } => {
            let new = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(RunError::Serve)?;
                Some(
                    types::NewPassword::parse(line.trim_end_matches(['\r', '\n']))
                        .map_err(|e| RunError::Domain(e.into()))?,
                )
            } else {
                None
            };
            let db = open_migrated(&config).await?;
            let result = domain::access::users::reset_password(&db, &name, new).await;
            db.close().await;
            let password = result?;
            if !password_stdin {
                println!("{password}");
            }
            eprintln!("password of {name} reset");
            Ok(())
        }
        Command::ApiKeys {
            action: ApiKeysAction::Create { name, role },
        } => {
            let db = open_migrated(&config).await?;
            let result = domain::access::api_keys::create_bootstrap(&db, &name, role).await;
            db.close().await;
            let created = result?;
            println!("{}", created.key);
            eprintln!(
                "created API key {} ({}, role {}); it is shown only now",
                created.info.name, created.info.prefix, created.info.role
            );
            Ok(())
        }
        Command::Secrets {
            action: SecretsAction::RotateKey,
        } => {
            let db = open_migrated(&config).await?;
            let result = crate::secret_key::rotate(&db, &config.secret_key_file).await;
            db.close().await;
            result
        }
        Command::Migrate { action } => {
            let db = Database::connect(&config.database_url, &config.database).await?;
            let result = migrate(&db, action).await;
            db.close().await;
            result
        }
    }
}

/// Opens the database and brings the schema up to date (the commands below need it).
async fn open_migrated(config: &Config) -> Result<Database, RunError> {
    let db = Database::connect(&config.database_url, &config.database).await?;
    db.migrate_up().await.map_err(RunError::Migrate)?;
    Ok(db)
}

async fn migrate(db: &Database, action: MigrateAction) -> Result<(), RunError> {
    match action {
        MigrateAction::Up => {
            db.migrate_up().await.map_err(RunError::Migrate)?;
            println!("all migrations applied");
        }
        MigrateAction::Down { steps, all } => {
            db.migrate_down(if all { None } else { Some(steps) })
                .await
                .map_err(RunError::Migrate)?;
            println!(
                "rolled back {}",
                if all {
                    "every migration".to_owned()
                } else {
                    format!("{steps} migration(s)")
                }
            );
        }
        MigrateAction::Status => {
            for (name, applied) in db.migrations().await.map_err(RunError::Migrate)? {
                println!("{} {name}", if applied { "applied" } else { "pending" });
            }
        }
    }
    Ok(())
}
