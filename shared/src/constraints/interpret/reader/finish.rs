//! The end of interpretation: contradiction checks (each naming the two phrases that clash) and assembly of the
//! [`Constraints`].

use super::super::{contradiction, family_element_count, Interpretation, PromptError};
use super::Reader;
use crate::constraints::{Constraints, ElectronicClass};
use crate::Element;

fn dedup(list: &[(Element, String)]) -> Vec<Element> {
    let mut out: Vec<Element> = Vec::new();
    for (el, _) in list {
        if !out.contains(el) {
            out.push(*el);
        }
    }
    out
}

impl Reader<'_> {
    pub(super) fn finish(self) -> Result<Interpretation, PromptError> {
        let required = dedup(&self.required);
        let excluded = dedup(&self.excluded);
        let said = |list: &[(Element, String)], el: Element| {
            list.iter().find(|(e, _)| *e == el).map(|(_, p)| p.clone()).unwrap_or_default()
        };
        for &el in &required {
            if excluded.contains(&el) {
                let why = format!("{el} is both required and excluded");
                return Err(contradiction(&said(&self.required, el), &said(&self.excluded, el), why));
            }
        }
        let anions = dedup(&self.anions);
        if !anions.is_empty() && anions.iter().all(|a| excluded.contains(a)) {
            let first = &self.anions[0].1;
            let why = "every requested anion is excluded".to_string();
            return Err(contradiction(first, &said(&self.excluded, anions[0]), why));
        }
        for (group, phrase) in &self.required_any {
            if group.iter().all(|e| excluded.contains(e)) {
                let why = "every element of the class is excluded".to_string();
                return Err(contradiction(phrase, &said(&self.excluded, group[0]), why));
            }
        }
        if let Some((pool, pool_phrase)) = &self.pool {
            if let Some(&el) = required.iter().find(|e| !pool.contains(e)) {
                let why = format!("{el} is required but not among the allowed elements");
                return Err(contradiction(&said(&self.required, el), pool_phrase, why));
            }
            if !anions.is_empty() && !anions.iter().any(|a| pool.contains(a)) {
                let why = "no requested anion is among the allowed elements".to_string();
                return Err(contradiction(&self.anions[0].1, pool_phrase, why));
            }
        }
        if let (Some((ElectronicClass::Metal, mp)), Some((lo, gp))) = (&self.electronic, &self.gap_min) {
            if *lo > 0.0 {
                let why = format!("a metal has no band gap, but a gap >= {lo} eV was asked for");
                return Err(contradiction(mp, gp, why));
            }
        }
        if let (Some((class, cp)), Some((hi, gp))) = (&self.electronic, &self.gap_max) {
            if *class != ElectronicClass::Metal && *hi <= 0.0 {
                return Err(contradiction(cp, gp, "a semiconductor or insulator has a non-zero band gap"));
            }
        }
        if let Some((family, fp)) = &self.family {
            let fc = family_element_count(*family);
            if let Some((min, p)) = &self.min_el {
                if *min > fc {
                    let why = format!(
                        "{} ({}) has {fc} elements, fewer than {min}",
                        family.name(),
                        family.anonymized_formula()
                    );
                    return Err(contradiction(fp, p, why));
                }
            }
            if let Some((max, p)) = &self.max_el {
                if *max < fc {
                    let why = format!(
                        "{} ({}) has {fc} elements, more than {max}",
                        family.name(),
                        family.anonymized_formula()
                    );
                    return Err(contradiction(fp, p, why));
                }
            }
            if required.len() as u32 > fc {
                let why =
                    format!("{} required elements do not fit the {fc} sites of a {}", required.len(), family.name());
                return Err(contradiction(fp, &self.required[0].1, why));
            }
            if !family.is_ionic() && !anions.is_empty() {
                let why = format!("{} compounds are intermetallics without an anion", family.name());
                return Err(contradiction(fp, &self.anions[0].1, why));
            }
        }
        if let Some((max, p)) = &self.max_el {
            if required.len() as u32 > *max {
                let why = format!("{} required elements but at most {max} elements", required.len());
                return Err(contradiction(&self.required[0].1, p, why));
            }
        }
        let constraints = Constraints {
            required_elements: required,
            excluded_elements: excluded,
            element_pool: self.pool.map(|(p, _)| p),
            family: self.family.map(|(f, _)| f),
            anions,
            min_elements: self.min_el.map(|(v, _)| v),
            max_elements: self.max_el.map(|(v, _)| v),
            electronic: self.electronic.map(|(c, _)| c),
            band_gap_min: self.gap_min.map(|(v, _)| v),
            band_gap_max: self.gap_max.map(|(v, _)| v),
            stable: self.stable,
            novel: self.novel.map(|(v, _)| v).unwrap_or(true),
            excluded_formulas: self.excluded_formulas,
            required_any: self.required_any.into_iter().map(|(g, _)| g).collect(),
            examples: self.examples,
        };
        Ok(Interpretation { constraints, unknown_words: self.unknown, recognised: self.recognised })
    }
}
