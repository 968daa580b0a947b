//! `genms convert IN OUT`: structure format conversion; formats are picked by file extension.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use genms_shared::io::{read_structure_file, write_structure_file};

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Input structure: .cif, POSCAR/CONTCAR/.vasp/.poscar, .xyz/.extxyz.
    pub input: PathBuf,
    /// Output file; its extension picks the format (CIF is written in P1).
    pub output: PathBuf,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let structure =
        read_structure_file(&args.input).with_context(|| format!("cannot read {}", args.input.display()))?;
    write_structure_file(&args.output, &structure)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(())
}
