//! From one parsed CIF data block to a [`CifStructure`]: cell, symmetry operations, atom sites, occupancy / disorder
//! policy, symmetry expansion. Follows pymatgen's `CifParser` where the fixture compares against it (species from
//! labels, 1/3 and 2/3 snapping, occupancy tolerance) and departs from it where it is wrong or lossy; every
//! departure is listed on [`super::CifOptions`] and in the module docs of `cif`.

use nalgebra::Vector3;

use super::block::{Block, Value};
use super::expand::{expand_orbit, group_positions, AsymSite, SiteIndex, Tolerance};
use super::spacegroup;
use super::symop::SymOp;
use super::{CifOptions, CifStructure, DisorderPolicy, SymmetrySource};
use crate::element::Element;
use crate::io::error::IoError;
use crate::lattice::Lattice;
use crate::structure::Structure;

/// Cells thinner than this (A, between opposite faces) are rejected; pymatgen's limit is 0.01 A. Real crystals are
/// wider than 1 A, and the merge test in `expand` needs widths well above `merge_distance`.
pub const MIN_CELL_WIDTH: f64 = 0.1;
/// Larger cells (A^3) are refused as absurd.
pub const MAX_CELL_VOLUME: f64 = 1e9;
/// Longer cell edges (A) are refused as absurd (checked before building the lattice, whose arithmetic would
/// overflow for lengths near 1e308).
pub const MAX_CELL_LENGTH: f64 = 1e6;
/// Upper bound on (atom-site rows) x (symmetry operations): the work of expansion.
pub const MAX_IMAGES: usize = 2_000_000;
/// Occupancies this close to 1 count as full; sums this far above a tolerance still pass (float round-off).
const OCC_EPS: f64 = 1e-6;

const SYMOP_TAGS: [&str; 2] = ["_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz"];
const HALL_TAGS: [&str; 2] = ["_space_group_name_hall", "_symmetry_space_group_name_hall"];
const HM_TAGS: [&str; 3] =
    ["_symmetry_space_group_name_h-m", "_space_group_name_h-m_alt", "_symmetry_space_group_name_h_m"];
const NUMBER_TAGS: [&str; 2] = ["_space_group_it_number", "_symmetry_int_tables_number"];

struct Ctx<'b, 'a> {
    block: &'b Block<'a>,
    name: String,
}

impl Ctx<'_, '_> {
    fn invalid(&self, tag: &str, v: &Value<'_>, reason: &str) -> IoError {
        IoError::InvalidValue {
            block: self.name.clone(),
            line: v.line,
            field: tag.to_string(),
            value: v.text.chars().take(60).collect(),
            reason: reason.to_string(),
        }
    }

    fn missing(&self, field: &str) -> IoError {
        IoError::MissingField { block: self.name.clone(), field: field.to_string() }
    }

    /// A numeric single item: `Ok(None)` when absent, an error when present but not a number.
    fn number(&self, tag: &str) -> Result<Option<f64>, IoError> {
        let Some(v) = self.block.value(tag) else { return Ok(None) };
        match v.number() {
            Some(x) => Ok(Some(x)),
            None if v.is_null() => Err(self.invalid(tag, &v, "is unknown")),
            None => Err(self.invalid(tag, &v, "is not a number")),
        }
    }

    /// A column of `n` values (`Ok(None)` when the tag is absent), checked to have the length of the coordinates.
    fn column(&self, tag: &str, n: usize) -> Result<Option<Vec<Value<'_>>>, IoError> {
        let Some(col) = self.block.column(tag) else { return Ok(None) };
        if col.len() != n {
            return Err(IoError::syntax(
                "CIF",
                self.block.tag_line(tag).unwrap_or(self.block.line),
                format!("{tag} has {} values but there are {n} atom-site coordinate rows", col.len()),
            ));
        }
        Ok(Some(col))
    }
}

/// The element a CIF species symbol or site label stands for, the way pymatgen's `CifParser._parse_symbol` reads it:
/// water aliases (`Wat`, `Ow`, `Hw`), then the first two letters title-cased (`FE1` -> Fe, `Ca2+` -> Ca), then the
/// first letter (`O2-` -> O, `B1` -> B). Deuterium and tritium (`D`, `T`) become H. pymatgen drops sites labelled
/// `OH...` without a type symbol; here they are oxygen.
pub fn parse_species_symbol(symbol: &str) -> Option<Element> {
    let s = symbol.trim();
    for (prefix, el) in [("Hw", "H"), ("Ow", "O"), ("Wat", "O"), ("wat", "O"), ("NO3", "N")] {
        if s.starts_with(prefix) {
            return Element::from_symbol(el);
        }
    }
    let mut chars = s.chars();
    let c0 = chars.next()?;
    if !c0.is_ascii_alphabetic() {
        return None;
    }
    let first = c0.to_ascii_uppercase();
    if let Some(c1) = chars.next().filter(|c| c.is_ascii_alphabetic()) {
        let two: String = [first, c1.to_ascii_lowercase()].iter().collect();
        if let Some(e) = Element::from_symbol(&two) {
            return Some(e);
        }
    }
    match first {
        'D' | 'T' => Element::from_symbol("H"),
        c => Element::from_symbol(&c.to_string()),
    }
}

/// pymatgen's `frac_tolerance` rounding: coordinates within a relative `tol` of 1/3 or 2/3 become exactly that, so
/// that 0.3333 and its image 1 - 0.6667 coincide after symmetry expansion.
fn snap_thirds(x: f64, tol: f64) -> (f64, bool) {
    for c in [1.0 / 3.0, 2.0 / 3.0] {
        if (x / c - 1.0).abs() <= tol {
            return (c, x != c);
        }
    }
    (x, false)
}

fn read_lattice(ctx: &Ctx<'_, '_>, warnings: &mut Vec<String>) -> Result<Lattice, IoError> {
    let mut p = [0.0; 6];
    for (k, axis) in ["a", "b", "c"].iter().enumerate() {
        let tag = format!("_cell_length_{axis}");
        p[k] = ctx.number(&tag)?.ok_or_else(|| ctx.missing(&tag))?;
        if p[k].abs() > MAX_CELL_LENGTH {
            return Err(IoError::Limit {
                what: format!("cell length {tag} = {:e} A of CIF data block '{}'", p[k], ctx.name),
                limit: format!("{MAX_CELL_LENGTH:.0e} A"),
            });
        }
    }
    for (k, angle) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let tag = format!("_cell_angle_{angle}");
        p[3 + k] = match ctx.number(&tag)? {
            Some(x) => x,
            None => {
                // The CIF core dictionary gives 90 degrees as the default of every cell angle.
                warnings.push(format!("{tag} missing: using the CIF default of 90 degrees"));
                90.0
            }
        };
    }
    let lattice = Lattice::from_parameters(p[0], p[1], p[2], p[3], p[4], p[5])
        .map_err(|source| IoError::Crystal { context: format!("CIF data block '{}': cell", ctx.name), source })?;
    let volume = lattice.volume();
    if !(volume <= MAX_CELL_VOLUME) {
        return Err(IoError::Limit {
            what: format!("cell volume {volume:.3e} A^3 of CIF data block '{}'", ctx.name),
            limit: format!("{MAX_CELL_VOLUME:.0e} A^3"),
        });
    }
    let widths = lattice.perpendicular_widths();
    let thinnest = widths.iter().copied().fold(f64::INFINITY, f64::min);
    if !(thinnest >= MIN_CELL_WIDTH) {
        return Err(IoError::Crystal {
            context: format!("CIF data block '{}': cell", ctx.name),
            source: crate::error::CrystalError::InvalidLattice(format!(
                "only {thinnest:.3e} A between opposite cell faces (minimum {MIN_CELL_WIDTH} A)"
            )),
        });
    }
    Ok(lattice)
}

fn read_symops(
    ctx: &Ctx<'_, '_>,
    lattice: &Lattice,
    opts: &CifOptions,
    warnings: &mut Vec<String>,
) -> Result<(Vec<SymOp>, SymmetrySource), IoError> {
    for tag in SYMOP_TAGS {
        let Some(col) = ctx.block.column(tag) else { continue };
        let values: Vec<&Value<'_>> = col.iter().filter(|v| !v.is_null()).collect();
        if values.is_empty() {
            continue;
        }
        if values.len() > opts.max_symops {
            return Err(IoError::Limit {
                what: format!("{} symmetry operations in CIF data block '{}'", values.len(), ctx.name),
                limit: opts.max_symops.to_string(),
            });
        }
        let ops = values
            .iter()
            .map(|v| {
                SymOp::parse(v.text).map_err(|reason| IoError::BadSymop {
                    block: ctx.name.clone(),
                    line: v.line,
                    op: v.text.chars().take(60).collect(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((ops, SymmetrySource::Explicit { tag: tag.to_string() }));
    }
    let shape = spacegroup::CellShape::of(lattice.parameters());
    let mut named = Vec::new();
    let text_of = |tag: &str| ctx.block.value(tag).filter(|v| !v.is_null()).map(|v| v.text.trim().to_string());
    for tag in HALL_TAGS {
        if let Some(s) = text_of(tag) {
            if let Some(r) = spacegroup::from_hall(&s) {
                return Ok((r.ops, SymmetrySource::SpaceGroup { given: s, resolved: r.description }));
            }
            named.push(format!("Hall '{s}'"));
        }
    }
    for tag in HM_TAGS {
        if let Some(s) = text_of(tag) {
            if let Some(r) = spacegroup::from_hermann_mauguin(&s, shape) {
                return Ok((r.ops, SymmetrySource::SpaceGroup { given: s, resolved: r.description }));
            }
            named.push(format!("'{s}'"));
        }
    }
    for tag in NUMBER_TAGS {
        if let Some(s) = text_of(tag) {
            let resolved = super::block::parse_cif_number(&s)
                .filter(|x| x.fract() == 0.0 && x.abs() < 1e6)
                .and_then(|x| spacegroup::from_number(x as i64, shape));
            if let Some(r) = resolved {
                return Ok((r.ops, SymmetrySource::SpaceGroup { given: format!("No. {s}"), resolved: r.description }));
            }
            named.push(format!("number '{s}'"));
        }
    }
    if !named.is_empty() {
        return Err(IoError::UnsupportedSpaceGroup { block: ctx.name.clone(), symbol: named.join(", ") });
    }
    warnings.push("no symmetry operations or space group given: read as P1".into());
    Ok((vec![SymOp::identity()], SymmetrySource::NoneGiven))
}

/// Convert CIF Cartesian coordinates (the CIF default frame: a along x, b in the xy plane) to fractional ones.
fn cif_cartesian_frame(lattice: &Lattice) -> Result<Lattice, IoError> {
    let [a, b, c, al, be, ga] = lattice.parameters();
    let (ca, cb, cg, sg) = (al.to_radians().cos(), be.to_radians().cos(), ga.to_radians().cos(), ga.to_radians().sin());
    let cy = (ca - cb * cg) / sg;
    let cz = (1.0 - cb * cb - cy * cy).max(0.0).sqrt();
    Lattice::from_rows([[a, 0.0, 0.0], [b * cg, b * sg, 0.0], [c * cb, c * cy, c * cz]])
        .map_err(|source| IoError::Crystal { context: "Cartesian atom-site frame".into(), source })
}

fn read_sites(
    ctx: &Ctx<'_, '_>,
    lattice: &Lattice,
    opts: &CifOptions,
    snap: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<AsymSite>, IoError> {
    let cartesian = !ctx.block.has("_atom_site_fract_x");
    let tags: [&str; 3] = if cartesian {
        ["_atom_site_cartn_x", "_atom_site_cartn_y", "_atom_site_cartn_z"]
    } else {
        ["_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z"]
    };
    let n = ctx.block.column(tags[0]).map_or(0, |c| c.len());
    if n > opts.max_sites {
        return Err(IoError::Limit {
            what: format!("{n} atom-site rows in CIF data block '{}'", ctx.name),
            limit: opts.max_sites.to_string(),
        });
    }
    let mut cols = Vec::with_capacity(3);
    for tag in tags {
        cols.push(ctx.column(tag, n)?.ok_or_else(|| ctx.missing(tag))?);
    }
    let labels = ctx.column("_atom_site_label", n)?;
    let types = ctx.column("_atom_site_type_symbol", n)?;
    let occupancies = ctx.column("_atom_site_occupancy", n)?;
    if labels.is_none() && types.is_none() {
        return Err(ctx.missing("_atom_site_label (or _atom_site_type_symbol)"));
    }
    let frame = if cartesian { Some(cif_cartesian_frame(lattice)?) } else { None };
    let mut snapped = 0;
    let mut sites = Vec::with_capacity(n);
    for i in 0..n {
        let label_v = labels.as_ref().map(|c| c[i]).filter(|v| !v.is_null());
        let type_v = types.as_ref().map(|c| c[i]).filter(|v| !v.is_null());
        let label = label_v.or(type_v).map_or_else(|| format!("site{}", i + 1), |v| v.text.to_string());
        // As pymatgen: the type symbol decides the element when present, else the label.
        let Some(symbol_v) = type_v.or(label_v) else {
            return Err(IoError::UnknownElement {
                context: format!("CIF data block '{}', line {}, atom site row {}", ctx.name, cols[0][i].line, i + 1),
                symbol: "?".into(),
            });
        };
        let element = parse_species_symbol(symbol_v.text).ok_or_else(|| IoError::UnknownElement {
            context: format!("CIF data block '{}', line {}, atom site {label}", ctx.name, symbol_v.line),
            symbol: symbol_v.text.chars().take(40).collect(),
        })?;
        let mut xyz = Vector3::zeros();
        for k in 0..3 {
            let v = &cols[k][i];
            xyz[k] = v.number().ok_or_else(|| {
                ctx.invalid(
                    tags[k],
                    v,
                    &format!("is {} (atom site {label})", if v.is_null() { "unknown" } else { "not a number" }),
                )
            })?;
        }
        let occupancy = match occupancies.as_ref().map(|c| c[i]) {
            None => 1.0,
            Some(v) if v.is_null() => 1.0,
            Some(v) => match v.number() {
                Some(x) if x >= 0.0 => x,
                Some(_) => {
                    return Err(ctx.invalid("_atom_site_occupancy", &v, &format!("is negative (atom site {label})")))
                }
                None => {
                    return Err(ctx.invalid(
                        "_atom_site_occupancy",
                        &v,
                        &format!("is not a number (atom site {label})"),
                    ))
                }
            },
        };
        if occupancy == 0.0 {
            warnings.push(format!("atom site {label} has occupancy 0 and was skipped"));
            continue;
        }
        let frac = match &frame {
            Some(f) => f.to_fractional(&xyz),
            None => {
                if snap && opts.frac_snap_tolerance > 0.0 {
                    for k in 0..3 {
                        let (x, changed) = snap_thirds(xyz[k], opts.frac_snap_tolerance);
                        xyz[k] = x;
                        snapped += usize::from(changed);
                    }
                }
                xyz
            }
        };
        sites.push(AsymSite { label, element, occupancy, frac });
    }
    if snapped > 0 {
        warnings.push(format!("{snapped} fractional coordinates rounded to exactly 1/3 or 2/3"));
    }
    Ok(sites)
}

fn fmt_occ(x: f64) -> String {
    let r = (x * 1e6).round() / 1e6;
    format!("{r}")
}

/// Which elements a position is emitted with, by policy; errors for the `Reject` policy.
fn resolve_position(
    ctx: &Ctx<'_, '_>,
    sites: &[AsymSite],
    members: &[usize],
    opts: &CifOptions,
) -> Result<Vec<Element>, IoError> {
    // Summed occupancy per element, in order of first appearance.
    let mut per_element: Vec<(Element, f64)> = Vec::new();
    for &m in members {
        let s = &sites[m];
        match per_element.iter_mut().find(|(e, _)| *e == s.element) {
            Some(entry) => entry.1 += s.occupancy,
            None => per_element.push((s.element, s.occupancy)),
        }
    }
    let total: f64 = per_element.iter().map(|(_, o)| o).sum();
    let labels: Vec<&str> = members.iter().map(|&m| sites[m].label.as_str()).collect();
    let first_label = labels.first().copied().unwrap_or("?").to_string();
    match opts.disorder {
        DisorderPolicy::Reject => {
            if total > opts.occupancy_tolerance + OCC_EPS {
                let detail = if labels.len() > 1 {
                    format!(
                        "sites {} coincide (directly or by symmetry) and their occupancies add up to {}, more than the \
                         occupancy tolerance {}",
                        labels.join(", "),
                        fmt_occ(total),
                        opts.occupancy_tolerance
                    )
                } else {
                    format!(
                        "site {first_label} has occupancy {}, more than the occupancy tolerance {}",
                        fmt_occ(total),
                        opts.occupancy_tolerance
                    )
                };
                return Err(IoError::Occupancy { block: ctx.name.clone(), detail });
            }
            // Sums in (1, tolerance] are rescaled to 1, as pymatgen does.
            let scaled = if total > 1.0 { 1.0 } else { total };
            if per_element.len() == 1 && scaled >= 1.0 - OCC_EPS {
                return Ok(vec![per_element[0].0]);
            }
            let detail = if per_element.len() == 1 {
                format!("occupancy {}", fmt_occ(total))
            } else {
                let parts: Vec<String> =
                    per_element.iter().map(|(e, o)| format!("{} {}", e.symbol(), fmt_occ(*o))).collect();
                format!("{} share one position (sites {})", parts.join(" + "), labels.join(", "))
            };
            Err(IoError::Disordered { block: ctx.name.clone(), label: first_label, detail })
        }
        DisorderPolicy::MajorityOccupant => {
            let mut best = per_element[0];
            for &(e, o) in &per_element[1..] {
                if o > best.1 {
                    best = (e, o);
                }
            }
            Ok(vec![best.0])
        }
        DisorderPolicy::Ignore => Ok(per_element.iter().map(|(e, _)| *e).collect()),
    }
}

/// Read the structure of one data block; `Ok(None)` when the block has no atom-site coordinates.
pub(crate) fn read_block(block: &Block<'_>, opts: &CifOptions) -> Result<Option<CifStructure>, IoError> {
    if !block.has("_atom_site_fract_x") && !block.has("_atom_site_cartn_x") {
        return Ok(None);
    }
    let ctx = Ctx { block, name: block.name.to_string() };
    let mut warnings = block.warnings.clone();
    let lattice = read_lattice(&ctx, &mut warnings)?;
    let (ops, symmetry) = read_symops(&ctx, &lattice, opts, &mut warnings)?;
    // Snapping to 1/3 and 2/3 only helps symmetry images meet; in P1 it would just move atoms (and break the
    // round trip of P1 files whose coordinates happen to lie near 1/3).
    let sites = read_sites(&ctx, &lattice, opts, ops.len() > 1, &mut warnings)?;
    if sites.is_empty() {
        return Err(IoError::NoStructure(format!("data block '{}' has no occupied atom sites", ctx.name)));
    }
    if sites.len().saturating_mul(ops.len()) > MAX_IMAGES {
        return Err(IoError::Limit {
            what: format!(
                "symmetry expansion of {} atom sites by {} operations in CIF data block '{}'",
                sites.len(),
                ops.len(),
                ctx.name
            ),
            limit: format!("{MAX_IMAGES} images"),
        });
    }
    let tol = Tolerance { site_fractional: opts.site_tolerance, merge_distance: opts.merge_distance };
    let positions = group_positions(&sites, &ops, &lattice, tol);
    let mut index = SiteIndex::new(&lattice, tol);
    let mut emitted = Vec::new();
    let mut labels = Vec::new();
    for pos in &positions {
        let elements = resolve_position(&ctx, &sites, &pos.members, opts)?;
        let label = &sites[pos.members[0]].label;
        for element in elements {
            let added =
                expand_orbit(&pos.frac, element, &ops, &mut index, &mut emitted, opts.max_sites).map_err(|()| {
                    IoError::Limit {
                        what: format!("number of sites after symmetry expansion of CIF data block '{}'", ctx.name),
                        limit: opts.max_sites.to_string(),
                    }
                })?;
            labels.extend(std::iter::repeat_n(label.clone(), added));
        }
    }
    let (species, frac): (Vec<Element>, Vec<Vector3<f64>>) = emitted.into_iter().unzip();
    let structure = Structure::new(lattice, species, frac)
        .map_err(|source| IoError::Crystal { context: format!("CIF data block '{}'", ctx.name), source })?;
    Ok(Some(CifStructure { block: ctx.name, structure, labels, symmetry, num_symops: ops.len(), warnings }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_like_pymatgen() {
        let s = |x: &str| parse_species_symbol(x).map(|e| e.symbol());
        assert_eq!(s("Fe1"), Some("Fe"));
        assert_eq!(s("O2-"), Some("O"));
        assert_eq!(s("Ca2+"), Some("Ca"));
        assert_eq!(s("FE3"), Some("Fe"));
        assert_eq!(s("B1"), Some("B"));
        assert_eq!(s("Wat12"), Some("O"));
        assert_eq!(s("OW1"), Some("O"));
        assert_eq!(s("HN2"), Some("H"));
        assert_eq!(s("D1"), Some("H"));
        assert_eq!(s("Si4+"), Some("Si"));
        assert_eq!(s("1Fe"), None);
        assert_eq!(s("Q1"), None);
        assert_eq!(s(""), None);
    }

    #[test]
    fn thirds_snap_with_pymatgen_tolerance() {
        assert_eq!(snap_thirds(0.3333, 1e-4), (1.0 / 3.0, true));
        assert_eq!(snap_thirds(0.6667, 1e-4), (2.0 / 3.0, true));
        assert!(!snap_thirds(0.333, 1e-4).1);
        assert!(!snap_thirds(-0.3333, 1e-4).1);
    }
}
