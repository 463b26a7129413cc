//! `vigil db migrate`: moves an install's database, for instance a single node's SQLite
//! file into the PostgreSQL database of a cluster. Run it with every node stopped.

use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Copy every document and event from one database into another.
    Migrate {
        /// The database to copy, e.g. sqlite:///var/lib/vigil/vigil.db
        #[arg(long, value_name = "URL")]
        from: String,
        /// The database to fill, e.g. postgres://vigil@db/vigil
        #[arg(long, value_name = "URL")]
        to: String,
        /// Overwrite a target that already holds documents or events.
        #[arg(long)]
        replace: bool,
    },
}

pub async fn db(args: DbArgs) -> ExitCode {
    match args.command {
        DbCommand::Migrate { from, to, replace } => {
            match store::migrate::migrate(&from, &to, replace).await {
                Ok(done) => {
                    println!(
                        "copied {} documents and {} events into {}",
                        done.documents,
                        done.events,
                        redact(&to)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vigil db migrate: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// A URL without its password, for output.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("postgres://vigil:s3cret@db:5432/vigil"),
            "postgres://vigil:***@db:5432/vigil"
        );
        assert_eq!(
            redact("postgres://vigil@db/vigil"),
            "postgres://vigil@db/vigil"
        );
        assert_eq!(
            redact("sqlite:///var/lib/vigil/vigil.db"),
            "sqlite:///var/lib/vigil/vigil.db"
        );
    }
}
