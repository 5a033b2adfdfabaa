use clap::{Parser, Subcommand};

/// Keeps AWS CloudTrail trails the way TrailPolicy resources declare them.
#[derive(Parser)]
#[command(name = "trailwarden", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the TrailPolicy CustomResourceDefinition as YAML.
    Crd,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => print!("{}", trailwarden::api::crd_yaml()),
    }
    Ok(())
}
