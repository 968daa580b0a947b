//! VASP POSCAR / CONTCAR: reader for VASP 5 files (element line; VASP 4 files only when the comment line lists the
//! elements, as pymatgen does) and writer in VASP 5 format.
//!
//! Reader: the scale line holds one factor (negative: the target cell volume in A^3) or three per-axis factors;
//! `Selective dynamics` is accepted and its flags ignored; `Direct` and `Cartesian` (first letter C or K)
//! coordinates; Cartesian coordinates are scaled like the lattice. Element names such as `Fe_pv` or `Fe/1a2b3c`
//! (POTCAR suffixes and hashes) count as `Fe`. Anything after the coordinates (velocities, ...) is ignored.

use std::fmt::Write as _;

use nalgebra::{Matrix3, Vector3};

use crate::element::Element;
use crate::io::error::IoError;
use crate::lattice::Lattice;
use crate::structure::Structure;

fn err(line: usize, message: impl Into<String>) -> IoError {
    IoError::syntax("POSCAR", line, message)
}

fn numbers(line: &str, lineno: usize, want: usize, what: &str) -> Result<Vec<f64>, IoError> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    if toks.len() < want {
        return Err(err(lineno, format!("expected {want} numbers ({what}), found '{}'", line.trim())));
    }
    toks[..want]
        .iter()
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| err(lineno, format!("'{t}' is not a finite number ({what})")))
        })
        .collect()
}

/// `Fe_pv` / `Fe/abc123` / `Fe1` -> Fe.
fn element_of(token: &str) -> Option<Element> {
    let base = token.split(['_', '/']).next()?;
    let letters: String = base.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    Element::from_symbol(&letters)
}

/// Parse POSCAR text.
pub fn read_poscar(text: &str) -> Result<Structure, IoError> {
    let lines: Vec<&str> = text.lines().collect();
    let line =
        |i: usize| -> Result<&str, IoError> { lines.get(i).copied().ok_or_else(|| err(i + 1, "file ends too early")) };
    let comment = line(0)?;
    let scale_toks: Vec<&str> = line(1)?.split_whitespace().collect();
    let scale = match scale_toks.len() {
        0 => return Err(err(2, "missing scale factor")),
        1 | 2 => numbers(line(1)?, 2, 1, "scale factor")?,
        _ => numbers(line(1)?, 2, 3, "scale factors")?,
    };
    let mut m = Matrix3::zeros();
    for r in 0..3 {
        let v = numbers(line(2 + r)?, 3 + r, 3, "lattice vector")?;
        for c in 0..3 {
            m[(r, c)] = v[c];
        }
    }
    let unscaled =
        Lattice::from_matrix(m).map_err(|source| IoError::Crystal { context: "POSCAR lattice".into(), source })?;
    let factors: [f64; 3] = if scale.len() == 3 {
        if scale.iter().any(|s| *s <= 0.0) {
            return Err(err(2, "per-axis scale factors must be positive"));
        }
        [scale[0], scale[1], scale[2]]
    } else if scale[0] < 0.0 {
        let f = (-scale[0] / unscaled.volume()).cbrt();
        [f; 3]
    } else if scale[0] > 0.0 {
        [scale[0]; 3]
    } else {
        return Err(err(2, "scale factor 0"));
    };
    for r in 0..3 {
        for c in 0..3 {
            // VASP scales the Cartesian components (columns) by the per-axis factors.
            m[(r, c)] *= factors[c];
        }
    }
    let lattice =
        Lattice::from_matrix(m).map_err(|source| IoError::Crystal { context: "POSCAR lattice".into(), source })?;

    // VASP 5 has an element line before the counts; VASP 4 goes straight to the counts.
    let mut next = 5;
    let first_tok = line(next)?.split_whitespace().next().unwrap_or("");
    let symbols: Vec<Element> = if first_tok.parse::<u64>().is_ok() {
        let from_comment: Vec<Option<Element>> = comment.split_whitespace().map(element_of).collect();
        if from_comment.is_empty() || from_comment.iter().any(|e| e.is_none()) {
            return Err(err(
                6,
                "no element line (VASP 4 format) and the comment line does not list the elements; add the element \
                 symbols on line 6",
            ));
        }
        from_comment.into_iter().flatten().collect()
    } else {
        let toks: Vec<&str> = line(next)?.split_whitespace().collect();
        let mut els = Vec::new();
        for t in toks {
            els.push(element_of(t).ok_or_else(|| err(next + 1, format!("'{t}' is not a chemical element")))?);
        }
        next += 1;
        els
    };
    let count_toks: Vec<&str> = line(next)?.split_whitespace().collect();
    let mut counts = Vec::new();
    for t in &count_toks {
        match t.parse::<usize>() {
            Ok(c) => counts.push(c),
            Err(_) => break,
        }
    }
    if counts.is_empty() {
        return Err(err(next + 1, "expected the number of atoms of each element"));
    }
    if counts.len() != symbols.len() {
        if symbols.len() > counts.len() {
            return Err(err(next + 1, format!("{} elements named but {} counts given", symbols.len(), counts.len())));
        }
        // VASP 4 comments may name more things than there are counts; only the first ones matter.
        return Err(err(next + 1, format!("{} counts but only {} elements named", counts.len(), symbols.len())));
    }
    let total: usize = counts.iter().sum();
    if total > 10_000_000 {
        return Err(IoError::Limit { what: format!("{total} atoms in a POSCAR"), limit: "10000000".into() });
    }
    next += 1;
    if line(next)?.trim_start().starts_with(['S', 's']) {
        next += 1;
    }
    let mode = line(next)?.trim_start();
    let cartesian = mode.starts_with(['C', 'c', 'K', 'k']);
    next += 1;
    if total > lines.len().saturating_sub(next) {
        return Err(err(lines.len(), format!("{total} atoms declared but only {} lines follow", lines.len() - next)));
    }
    let mut species = Vec::with_capacity(total);
    for (e, c) in symbols.iter().zip(&counts) {
        species.extend(std::iter::repeat_n(*e, *c));
    }
    let mut coords = Vec::with_capacity(total);
    for i in 0..total {
        let v = numbers(line(next + i)?, next + i + 1, 3, "atom coordinates")?;
        let mut p = Vector3::new(v[0], v[1], v[2]);
        if cartesian {
            p = lattice.to_fractional(&p.component_mul(&Vector3::from(factors)));
        }
        coords.push(p);
    }
    Structure::new(lattice, species, coords).map_err(|source| IoError::Crystal { context: "POSCAR".into(), source })
}

fn groups(structure: &Structure) -> Vec<(Element, usize)> {
    let mut out: Vec<(Element, usize)> = Vec::new();
    for &e in structure.species() {
        match out.last_mut() {
            Some((last, n)) if *last == e => *n += 1,
            _ => out.push((e, 1)),
        }
    }
    out
}

fn write(structure: &Structure, cartesian: bool) -> String {
    let g = groups(structure);
    let mut out = String::new();
    let formula: Vec<String> = g.iter().map(|(e, n)| format!("{}{n}", e.symbol())).collect();
    let _ = writeln!(out, "{}", if formula.is_empty() { "empty".to_string() } else { formula.join(" ") });
    out.push_str("1.0\n");
    for row in structure.lattice().rows() {
        let _ = writeln!(out, "  {:22.16}  {:22.16}  {:22.16}", row[0], row[1], row[2]);
    }
    let syms: Vec<&str> = g.iter().map(|(e, _)| e.symbol()).collect();
    let ns: Vec<String> = g.iter().map(|(_, n)| n.to_string()).collect();
    let _ = writeln!(out, "{}", syms.join(" "));
    let _ = writeln!(out, "{}", ns.join(" "));
    out.push_str(if cartesian { "Cartesian\n" } else { "Direct\n" });
    let coords = if cartesian { structure.cart_coords() } else { structure.frac_coords().to_vec() };
    for (p, e) in coords.iter().zip(structure.species()) {
        let _ = writeln!(out, "  {:22.16}  {:22.16}  {:22.16} {}", p[0], p[1], p[2], e.symbol());
    }
    out
}

/// VASP 5 POSCAR with Direct (fractional) coordinates. Consecutive sites of one element form one group, so site
/// order is kept exactly (an element may appear in several groups).
pub fn write_poscar(structure: &Structure) -> String {
    write(structure, false)
}

/// VASP 5 POSCAR with Cartesian coordinates (A).
pub fn write_poscar_cartesian(structure: &Structure) -> String {
    write(structure, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SI: &str = "Si2\n-40.0\n0 2.7 2.7\n2.7 0 2.7\n2.7 2.7 0\nSi_pv\n2\nSelective dynamics\nCart\n\
                      0 0 0 T T T\n1.35 1.35 1.35 F F F\n";

    #[test]
    fn negative_scale_is_a_volume_and_cartesian_is_scaled() {
        let s = read_poscar(SI).unwrap();
        assert!((s.volume() - 40.0).abs() < 1e-9);
        let f = (40.0f64 / 39.366).cbrt();
        assert!((s.frac_coords()[1] - Vector3::new(0.25, 0.25, 0.25)).norm() < 1e-12, "{f}");
    }

    #[test]
    fn vasp4_needs_symbols_in_the_comment() {
        let v4 = "Na Cl\n5.6\n1 0 0\n0 1 0\n0 0 1\n1 1\nDirect\n0 0 0\n.5 .5 .5\n";
        let s = read_poscar(v4).unwrap();
        assert_eq!(s.species()[1].symbol(), "Cl");
        let e = read_poscar(&v4.replacen("Na Cl", "rocksalt", 1)).unwrap_err().to_string();
        assert!(e.contains("line 6"), "{e}");
    }

    #[test]
    fn errors_name_lines() {
        let e = read_poscar("x\n1\n1 0 0\n0 1 0\n").unwrap_err().to_string();
        assert!(e.contains("line 5") && e.contains("ends too early"), "{e}");
        let e = read_poscar("x\n1\n1 0 0\n0 1 0\n0 0 1\nFe\n2\nDirect\n0 0 0\n").unwrap_err().to_string();
        assert!(e.contains("2 atoms declared"), "{e}");
        let e = read_poscar("x\n1\n1 0 0\n0 1 0\n0 0 nan\nFe\n1\nDirect\n0 0 0\n").unwrap_err().to_string();
        assert!(e.contains("line 5"), "{e}");
    }

    #[test]
    fn write_keeps_site_order() {
        let text = "x\n1\n3 0 0\n0 3 0\n0 0 3\nFe O Fe\n1 1 1\nDirect\n0 0 0\n.5 .5 .5\n.5 0 0\n";
        let s = read_poscar(text).unwrap();
        let back = read_poscar(&write_poscar(&s)).unwrap();
        assert_eq!(back, s);
        let back = read_poscar(&write_poscar_cartesian(&s)).unwrap();
        assert_eq!(back.species(), s.species());
    }
}
