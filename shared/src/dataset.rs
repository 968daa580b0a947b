//! CDVAE-style structure datasets: CSV files with columns `material_id, formula, cif, <properties...>` where `cif`
//! is a quoted multi-line P1 CIF. Read as a stream (the files hold thousands of rows); every error names the
//! record number (1 = first row after the header) and the file.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::io::{read_cif_structure, CifOptions};
use crate::structure::Structure;

#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("cannot open dataset {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{path}: header has no `{column}` column (columns: {columns})")]
    MissingColumn { path: PathBuf, column: &'static str, columns: String },
    #[error("{path}: record {record}: {message}")]
    Record { path: PathBuf, record: u64, message: String },
}

/// One dataset row.
#[derive(Debug, Clone, PartialEq)]
pub struct CdvaeRecord {
    /// 1-based record number (the header is record 0).
    pub record: u64,
    pub material_id: String,
    /// The reduced formula as the dataset writes it.
    pub formula: String,
    /// The CIF text.
    pub cif: String,
    /// Every other column in file order: (name, value); an empty cell is `None` (unknown).
    pub properties: Vec<(String, Option<String>)>,
}

impl CdvaeRecord {
    /// The structure of the `cif` column (P1 CIF, site order kept); errors name the record and material.
    pub fn structure(&self) -> Result<Structure, String> {
        read_cif_structure(&self.cif, &CifOptions::default())
            .map_err(|e| format!("record {} ({}): {e}", self.record, self.material_id))
    }

    /// A property as a number: `Ok(None)` when the column is absent or the cell empty, an error when the cell is
    /// not a number.
    pub fn property_f64(&self, name: &str) -> Result<Option<f64>, String> {
        match self.properties.iter().find(|(k, _)| k == name) {
            None | Some((_, None)) => Ok(None),
            Some((_, Some(v))) => v
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("record {}: property {name} = {v:?} is not a number", self.record)),
        }
    }
}

/// A streaming reader over a CDVAE CSV.
pub struct CdvaeReader<R: Read> {
    path: PathBuf,
    inner: csv::Reader<R>,
    id_col: usize,
    formula_col: usize,
    cif_col: usize,
    headers: Vec<String>,
    record: u64,
}

impl CdvaeReader<File> {
    /// Opens `path` and checks its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DatasetError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| DatasetError::Open { path: path.clone(), source })?;
        CdvaeReader::from_reader(file, path)
    }
}

impl<R: Read> CdvaeReader<R> {
    /// Reads a CDVAE CSV from any reader; `name` is used in error messages.
    pub fn from_reader(reader: R, name: impl Into<PathBuf>) -> Result<Self, DatasetError> {
        let path = name.into();
        let mut inner = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(reader);
        let headers: Vec<String> = inner
            .headers()
            .map_err(|e| DatasetError::Record { path: path.clone(), record: 0, message: format!("bad header: {e}") })?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let find = |column: &'static str| {
            headers.iter().position(|h| h == column).ok_or_else(|| DatasetError::MissingColumn {
                path: path.clone(),
                column,
                columns: headers.join(", "),
            })
        };
        let id_col = find("material_id")?;
        let formula_col = find("formula")?;
        let cif_col = find("cif")?;
        Ok(CdvaeReader { path, inner, id_col, formula_col, cif_col, headers, record: 0 })
    }

    /// The column names.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }
}

impl<R: Read> Iterator for CdvaeReader<R> {
    type Item = Result<CdvaeRecord, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut row = csv::StringRecord::new();
        self.record += 1;
        match self.inner.read_record(&mut row) {
            Ok(false) => None,
            Err(e) => {
                Some(Err(DatasetError::Record { path: self.path.clone(), record: self.record, message: e.to_string() }))
            }
            Ok(true) => {
                let get = |i: usize| row.get(i).unwrap_or("").to_string();
                let cif = get(self.cif_col);
                if cif.trim().is_empty() {
                    return Some(Err(DatasetError::Record {
                        path: self.path.clone(),
                        record: self.record,
                        message: "empty cif".into(),
                    }));
                }
                let properties = self
                    .headers
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| ![self.id_col, self.formula_col, self.cif_col].contains(i))
                    .map(|(i, h)| {
                        let v = row.get(i).unwrap_or("").trim();
                        (h.clone(), (!v.is_empty()).then(|| v.to_string()))
                    })
                    .collect();
                Some(Ok(CdvaeRecord {
                    record: self.record,
                    material_id: get(self.id_col),
                    formula: get(self.formula_col),
                    cif,
                    properties,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str =
        "material_id,formula,cif,band_gap\nmp-1,NaCl,\"data_x\n_cell_length_a 1\n\",1.5\nmp-2,KCl,\"data_y\n\",\n";

    #[test]
    fn reads_rows_and_properties() {
        let rows: Vec<_> =
            CdvaeReader::from_reader(CSV.as_bytes(), "t.csv").unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].material_id, "mp-1");
        assert!(rows[0].cif.contains("_cell_length_a 1\n"));
        assert_eq!(rows[0].property_f64("band_gap").unwrap(), Some(1.5));
        assert_eq!(rows[1].property_f64("band_gap").unwrap(), None);
        assert_eq!(rows[1].record, 2);
    }

    #[test]
    fn errors_name_the_record() {
        let bad = "material_id,formula,cif\nmp-1,NaCl,\"data_x\n\"\nmp-2,KCl\n";
        let rows: Vec<_> = CdvaeReader::from_reader(bad.as_bytes(), "bad.csv").unwrap().collect();
        assert!(rows[0].is_ok());
        let err = rows[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("bad.csv: record 2"), "{err}");
        let missing = CdvaeReader::from_reader("id,formula\n".as_bytes(), "m.csv").err().unwrap().to_string();
        assert!(missing.contains("no `material_id` column"), "{missing}");
    }
}
