//! Extended XYZ (the ASE / QUIP convention) for periodic structures: line 1 the atom count, line 2 `key=value` pairs
//! with `Lattice="ax ay az bx by bz cx cy cz"` and `Properties=species:S:1:pos:R:3`, then one line per atom. The
//! reader takes the first frame, needs `Lattice`, finds the species (`species:S:1`, or `Z:I:1`) and `pos:R:3`
//! columns wherever `Properties` puts them, and skips other columns; `pbc` is accepted but a structure is always
//! periodic. Positions are Cartesian (A).

use std::fmt::Write as _;

use nalgebra::{Matrix3, Vector3};

use crate::element::Element;
use crate::io::error::IoError;
use crate::lattice::Lattice;
use crate::structure::Structure;

fn err(line: usize, message: impl Into<String>) -> IoError {
    IoError::syntax("extended XYZ", line, message)
}

/// `key=value` pairs of the comment line; values may be `"quoted"` (with `\"` escapes) or bare; a bare key is
/// `key=T`. Keys keep their case; look-ups are case-insensitive.
fn parse_info(line: &str) -> Result<Vec<(String, String)>, IoError> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    let read_word = |i: &mut usize| -> Result<String, IoError> {
        if *i < chars.len() && (chars[*i] == '"' || chars[*i] == '\'') {
            let q = chars[*i];
            *i += 1;
            let mut s = String::new();
            while *i < chars.len() && chars[*i] != q {
                if chars[*i] == '\\' && *i + 1 < chars.len() {
                    *i += 1;
                }
                s.push(chars[*i]);
                *i += 1;
            }
            if *i >= chars.len() {
                return Err(err(2, "unclosed quote in the comment line"));
            }
            *i += 1;
            Ok(s)
        } else {
            let start = *i;
            while *i < chars.len() && !chars[*i].is_whitespace() && chars[*i] != '=' {
                *i += 1;
            }
            Ok(chars[start..*i].iter().collect())
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        let key = read_word(&mut i)?;
        skip_ws(&mut i);
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            skip_ws(&mut i);
            let value = read_word(&mut i)?;
            out.push((key, value));
        } else {
            if key.is_empty() {
                return Err(err(2, "stray '=' in the comment line"));
            }
            out.push((key, "T".into()));
        }
    }
    Ok(out)
}

fn get<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

/// Read the first frame of an extended XYZ text.
pub fn read_extxyz(text: &str) -> Result<Structure, IoError> {
    let mut lines = text.lines();
    let first = lines.next().ok_or_else(|| err(1, "empty file"))?;
    let n: usize =
        first.trim().parse().map_err(|_| err(1, format!("expected the number of atoms, found '{}'", first.trim())))?;
    if n > 10_000_000 {
        return Err(IoError::Limit { what: format!("{n} atoms in an extended XYZ frame"), limit: "10000000".into() });
    }
    let info = parse_info(lines.next().ok_or_else(|| err(2, "missing comment line"))?)?;
    let lattice_text = get(&info, "Lattice")
        .ok_or_else(|| err(2, "no Lattice=\"...\" on the comment line: a periodic structure needs its cell"))?;
    let l: Vec<f64> = lattice_text
        .split_whitespace()
        .map(|t| t.parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<Vec<_>>>()
        .filter(|v| v.len() == 9)
        .ok_or_else(|| err(2, format!("Lattice=\"{lattice_text}\" is not 9 finite numbers")))?;
    let lattice = Lattice::from_matrix(Matrix3::from_row_slice(&l))
        .map_err(|source| IoError::Crystal { context: "extended XYZ Lattice".into(), source })?;

    let props = get(&info, "Properties").unwrap_or("species:S:1:pos:R:3");
    let fields: Vec<&str> = props.split(':').collect();
    if fields.len() % 3 != 0 {
        return Err(err(2, format!("Properties={props} is not a list of name:type:count triples")));
    }
    let mut col = 0usize;
    let (mut species_col, mut z_col, mut pos_col) = (None, None, None);
    for t in fields.chunks(3) {
        let count: usize = t[2].parse().map_err(|_| err(2, format!("bad column count '{}' in Properties", t[2])))?;
        match (t[0].to_ascii_lowercase().as_str(), t[1].to_ascii_uppercase().as_str(), count) {
            ("species", "S", 1) => species_col = Some(col),
            ("z", "I", 1) => z_col = Some(col),
            ("pos", "R", 3) => pos_col = Some(col),
            _ => {}
        }
        col = col.saturating_add(count);
    }
    let pos_col = pos_col.ok_or_else(|| err(2, format!("Properties={props} has no pos:R:3 column")))?;
    if species_col.is_none() && z_col.is_none() {
        return Err(err(2, format!("Properties={props} has no species:S:1 (or Z:I:1) column")));
    }
    let mut species = Vec::with_capacity(n);
    let mut cart = Vec::with_capacity(n);
    for i in 0..n {
        let lineno = i + 3;
        let line = lines.next().ok_or_else(|| err(lineno, format!("{n} atoms declared but the file ends")))?;
        let toks: Vec<&str> = line.split_whitespace().collect();
        if toks.len() < col {
            return Err(err(lineno, format!("{} columns, Properties asks for {col}", toks.len())));
        }
        let el = match species_col {
            Some(c) => Element::from_symbol(toks[c]),
            None => z_col.and_then(|c| toks[c].parse::<u32>().ok()).and_then(Element::from_z),
        }
        .ok_or_else(|| err(lineno, format!("unknown element in '{}'", line.trim())))?;
        let mut p = Vector3::zeros();
        for k in 0..3 {
            let t = toks[pos_col + k];
            p[k] = t
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| err(lineno, format!("'{t}' is not a finite coordinate")))?;
        }
        species.push(el);
        cart.push(p);
    }
    Structure::from_cartesian(lattice, species, &cart)
        .map_err(|source| IoError::Crystal { context: "extended XYZ".into(), source })
}

/// One extended XYZ frame with the lattice, species and Cartesian positions (A), 12 decimals.
pub fn write_extxyz(structure: &Structure) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", structure.num_sites());
    let l: Vec<String> = structure.lattice().rows().iter().flatten().map(|x| crate::io::exact(*x)).collect();
    let _ = writeln!(out, "Lattice=\"{}\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"", l.join(" "));
    for (e, p) in structure.species().iter().zip(structure.cart_coords()) {
        let _ = writeln!(out, "{:<3} {:20.12} {:20.12} {:20.12}", e.symbol(), p[0], p[1], p[2]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ase_style_frames() {
        let text = "2\nenergy=-3.5 Lattice=\"4 0 0 0 4 0 0 0 4\" Properties=id:I:1:species:S:1:pos:R:3:forces:R:3 \
                    pbc=\"T T T\" is_relaxed\n1 Na 0 0 0 0 0 0\n2 Cl 2 2 2 0.1 0 0\n";
        let s = read_extxyz(text).unwrap();
        assert_eq!(s.species()[1].symbol(), "Cl");
        assert!((s.frac_coords()[1] - Vector3::new(0.5, 0.5, 0.5)).norm() < 1e-12);
        let back = read_extxyz(&write_extxyz(&s)).unwrap();
        assert!((back.frac_coords()[1] - s.frac_coords()[1]).norm() < 1e-12);
    }

    #[test]
    fn errors_name_lines() {
        let e = read_extxyz("1\nProperties=species:S:1:pos:R:3\nNa 0 0 0\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("Lattice"), "{e}");
        let e = read_extxyz("2\nLattice=\"4 0 0 0 4 0 0 0 4\"\nNa 0 0 0\n").unwrap_err().to_string();
        assert!(e.contains("line 4"), "{e}");
        let e = read_extxyz("1\nLattice=\"4 0 0 0 4 0 0 0 4\"\nXx 0 0 0\n").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("unknown element"), "{e}");
    }
}
