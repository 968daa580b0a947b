//! Symmetry operations in the "x,y,z" notation of CIF (`_symmetry_equiv_pos_as_xyz`,
//! `_space_group_symop_operation_xyz`): `-x+1/2,y,-z`, `1/2+y`, `x-y`, `0.5+z`, `-X+Y`, `2/3+x-y`. An operation maps
//! fractional coordinates `f` to `R f + t`.

use nalgebra::{Matrix3, Vector3};

/// One affine symmetry operation on fractional coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct SymOp {
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
}

impl SymOp {
    pub fn identity() -> SymOp {
        SymOp { rotation: Matrix3::identity(), translation: Vector3::zeros() }
    }

    /// Apply to fractional coordinates (no wrapping).
    pub fn apply(&self, f: &Vector3<f64>) -> Vector3<f64> {
        self.rotation * f + self.translation
    }

    /// Parse `"-x+1/2, y, z"`-style text. The rotation part must be an isometry of the lattice up to the usual
    /// integer matrices, so its determinant must be +-1; anything else (e.g. `x,x,z`) is rejected with a reason.
    pub fn parse(text: &str) -> Result<SymOp, String> {
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() != 3 {
            return Err(format!("expected 3 comma-separated components, found {}", parts.len()));
        }
        let mut rotation = Matrix3::zeros();
        let mut translation = Vector3::zeros();
        for (row, part) in parts.iter().enumerate() {
            let (coeffs, constant) = parse_component(part)?;
            for (col, c) in coeffs.iter().enumerate() {
                rotation[(row, col)] = *c;
            }
            translation[row] = constant;
        }
        let det = rotation.determinant();
        if !det.is_finite() || (det.abs() - 1.0).abs() > 1e-3 {
            return Err(format!("rotation part has determinant {det:.4}, not +-1"));
        }
        Ok(SymOp { rotation, translation })
    }
}

/// Parse one component such as `-x+y+1/2` into (coefficients of x, y, z; constant).
fn parse_component(text: &str) -> Result<([f64; 3], f64), String> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.is_empty() {
        return Err("empty component".into());
    }
    let mut coeffs = [0.0; 3];
    let mut constant = 0.0;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let mut sign = 1.0;
        match chars[i] {
            '+' => i += 1,
            '-' => {
                sign = -1.0;
                i += 1;
            }
            _ if first => {}
            c => return Err(format!("unexpected '{c}' in '{text}'")),
        }
        first = false;
        // Optional number (integer, decimal or fraction).
        let num_start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        let mut number: Option<f64> = None;
        if i > num_start {
            let s: String = chars[num_start..i].iter().collect();
            let mut v: f64 = s.parse().map_err(|_| format!("bad number '{s}' in '{text}'"))?;
            if i < chars.len() && chars[i] == '/' {
                i += 1;
                let den_start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let d: String = chars[den_start..i].iter().collect();
                let den: f64 = d.parse().map_err(|_| format!("bad fraction denominator '{d}' in '{text}'"))?;
                if den == 0.0 {
                    return Err(format!("division by zero in '{text}'"));
                }
                v /= den;
            }
            number = Some(v);
        }
        if i < chars.len() && chars[i] == '*' {
            if number.is_none() {
                return Err(format!("'*' without a coefficient in '{text}'"));
            }
            i += 1;
        }
        let var = chars.get(i).and_then(|c| match c.to_ascii_lowercase() {
            'x' => Some(0),
            'y' => Some(1),
            'z' => Some(2),
            _ => None,
        });
        match (number, var) {
            (n, Some(axis)) => {
                i += 1;
                coeffs[axis] += sign * n.unwrap_or(1.0);
            }
            (Some(v), None) => constant += sign * v,
            (None, None) => {
                return Err(match chars.get(i) {
                    Some(c) => format!("unexpected '{c}' in '{text}'"),
                    None => format!("'{text}' ends with a sign"),
                })
            }
        }
    }
    if coeffs.iter().chain(std::iter::once(&constant)).any(|v| !v.is_finite()) {
        return Err(format!("non-finite number in '{text}'"));
    }
    Ok((coeffs, constant))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(s: &str) -> SymOp {
        SymOp::parse(s).unwrap()
    }

    #[test]
    fn parses_common_forms() {
        let o = op("-x+1/2, 1/2+y, -z");
        assert_eq!(o.rotation, Matrix3::new(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0));
        assert_eq!(o.translation, Vector3::new(0.5, 0.5, 0.0));
        let o = op("x-y,x,z+0.5");
        assert_eq!(o.rotation, Matrix3::new(1.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0));
        assert_eq!(o.translation, Vector3::new(0.0, 0.0, 0.5));
        let o = op("-X+Y,2/3+y,+z-1/3");
        assert_eq!(o.translation, Vector3::new(0.0, 2.0 / 3.0, -1.0 / 3.0));
        let f = Vector3::new(0.1, 0.2, 0.3);
        assert!((op("y,z,x").apply(&f) - Vector3::new(0.2, 0.3, 0.1)).norm() < 1e-15);
        assert_eq!(op("1*x,y,z"), SymOp::identity());
    }

    #[test]
    fn rejects_garbage_with_reasons() {
        assert!(SymOp::parse("x,y").unwrap_err().contains("3 comma-separated"));
        assert!(SymOp::parse("x,x,z").unwrap_err().contains("determinant"));
        assert!(SymOp::parse("x,y,q").unwrap_err().contains("unexpected 'q'"));
        assert!(SymOp::parse("x,y,z+1/0").unwrap_err().contains("division by zero"));
        assert!(SymOp::parse("x,y,z-").is_err());
        assert!(SymOp::parse("x,,z").is_err());
        assert!(SymOp::parse("x y,y,z").is_err());
    }
}
