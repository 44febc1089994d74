//! The speed-ups the rule benchmarks measured, as numbers.
//!
//! Each rule's documentation has an `## Expected gain` section written from
//! `benchmarks/rules/PYR###.py`. For the rules whose rewrite makes code faster, this table holds
//! the *smallest* speed-up that section states for the case the rule reports (so a saving
//! computed from it is conservative for that benchmark's input size), with the text as the
//! documentation writes it; a test checks that the text is still in the documentation. Rules
//! that save memory rather than time, or whose rewrite measured no faster (or slower in some
//! cases), have no entry: the advisor then states no saving.

use pyrometer_lint::Rule;

/// A measured speed-up of a rule's rewrite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gain {
    /// Time before / time after, in the rule's benchmark.
    pub speedup: f64,
    /// The speed-up as the rule's documentation states it (`1.4x`).
    pub stated: &'static str,
    /// Whether the cost grows faster than linearly with the input (so the real speed-up at
    /// larger sizes is larger than the benchmark's).
    pub superlinear: bool,
}

impl Gain {
    /// The benchmark script that measured it.
    pub fn benchmark(rule: Rule) -> String {
        format!("benchmarks/rules/{}.py", rule.code())
    }

    /// The time a rewrite would save out of `time_ns`, if all of it were spent in the pattern:
    /// `time × (1 − 1/speedup)`.
    pub fn saving(&self, time_ns: f64) -> f64 {
        time_ns * (1.0 - 1.0 / self.speedup)
    }
}

/// (code, smallest stated speed-up, its text, superlinear)
const GAINS: &[(&str, f64, &str, bool)] = &[
    ("PYR101", 1.4, "1.4x", false),
    ("PYR102", 75.0, "75x", true),
    ("PYR103", 177.0, "177x", true),
    ("PYR104", 251.0, "251x", true),
    ("PYR105", 143.0, "143x", true),
    ("PYR106", 1087.0, "1,087x", true),
    ("PYR107", 1206.0, "1,206x", true),
    ("PYR108", 607.0, "607x", true),
    ("PYR109", 146.0, "146x", true),
    ("PYR201", 1.08, "1.08x", false),
    ("PYR202", 11.0, "11x", false),
    ("PYR204", 1.33, "1.33x", false),
    ("PYR205", 1.05, "1.05x", false),
    ("PYR207", 7.2, "7.2x", false),
    ("PYR211", 1.28, "1.28x", false),
    ("PYR212", 1.13, "1.13x", false),
    ("PYR213", 1.63, "1.63x", false),
    ("PYR401", 1.75, "1.75x", false),
    ("PYR402", 2.2, "2.2x", false),
    ("PYR403", 30.0, "30x", false),
    ("PYR404", 15.0, "15x", false),
    ("PYR501", 1.10, "1.10x", false),
    ("PYR503", 1.33, "1.33x", false),
    ("PYR505", 1.47, "1.47x", false),
];

/// The measured speed-up of `rule`'s rewrite, if it has one.
pub fn gain(rule: Rule) -> Option<Gain> {
    GAINS.iter().find(|(code, ..)| *code == rule.code()).map(
        |&(_, speedup, stated, superlinear)| Gain {
            speedup,
            stated,
            superlinear,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gain_is_stated_in_its_rule_documentation() {
        for &(code, speedup, stated, _) in GAINS {
            let rule = Rule::from_code(code).expect("a rule");
            let doc = rule.info().expected_gain().expect("documented gain");
            assert!(
                doc.contains(stated),
                "{code}: `{stated}` is not in its expected gain: {doc}"
            );
            let parsed: f64 = stated
                .trim_end_matches('x')
                .replace(',', "")
                .parse()
                .unwrap();
            assert!((parsed - speedup).abs() < 1e-9, "{code}");
            assert!(speedup > 1.0);
        }
    }

    #[test]
    fn saving_is_the_time_the_speedup_removes() {
        let concat = gain(Rule::from_code("PYR101").unwrap()).unwrap();
        assert!((concat.saving(1.4e9) - 0.4e9).abs() < 1.0);
        assert!(gain(Rule::from_code("PYR206").unwrap()).is_none());
    }
}
