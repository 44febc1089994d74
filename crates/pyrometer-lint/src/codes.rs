//! The table of every rule: code, name, default, one-line summary, and the rule's documentation.
//!
//! This is the only list of rules. Adding a rule is one file under `rules/` plus one line here
//! (and a call in `checker.rs` at the AST node it inspects).

use std::fmt;

/// Declares [`Rule`] and [`RULES`] from one list, so that the two cannot drift apart.
macro_rules! rule_table {
    ($( $variant:ident => ($code:literal, $name:literal, $default:literal,
        $module:ident :: $violation:ident, $summary:literal), )*) => {
        /// One performance rule. `Rule as usize` indexes [`rules()`](crate::rules).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Rule {
            $( #[doc = $summary] $variant, )*
        }

        /// Every rule, in code order.
        pub static RULES: &[RuleInfo] = &[
            $( RuleInfo {
                rule: Rule::$variant,
                code: $code,
                name: $name,
                default_enabled: $default,
                summary: $summary,
                explanation: crate::rules::$module::$violation::EXPLANATION,
            }, )*
        ];
    };
}

rule_table! {
    // 1xx: algorithmic costs (quadratic or worse in the input size).
    StringConcatInLoop => ("PYR101", "string-concat-in-loop", true,
        string_concat_in_loop::StringConcatInLoop,
        "String built with `+=` in a loop; collect parts and `\"\".join` them"),
    ListFrontOpInLoop => ("PYR102", "list-front-op-in-loop", true,
        list_front_op_in_loop::ListFrontOpInLoop,
        "`list.pop(0)` or `list.insert(0, x)` in a loop; use `collections.deque`"),
    ListMembershipInLoop => ("PYR103", "list-membership-in-loop", true,
        list_membership_in_loop::ListMembershipInLoop,
        "`in` on an unchanging list or tuple inside a loop; test a set instead"),
    QuadraticListConcat => ("PYR104", "quadratic-list-concat", true,
        quadratic_list_concat::QuadraticListConcat,
        "`x = x + [...]` in a loop, or `sum(lists, [])`: copies the list every time"),
    NestedLoopJoin => ("PYR105", "nested-loop-join", true,
        nested_loop_join::NestedLoopJoin,
        "Nested loops that join two collections by equality; index one by a dict"),
    ExchangeSort => ("PYR106", "exchange-sort", true,
        exchange_sort::ExchangeSort,
        "Hand-written exchange sort (bubble/selection); use `sorted` or `list.sort`"),
    NaiveRecursion => ("PYR107", "naive-recursion", true,
        naive_recursion::NaiveRecursion,
        "Recursion with overlapping subproblems and no memo; use `functools.cache`"),
    LoopInvariantLinearCall => ("PYR108", "loop-invariant-linear-call", true,
        loop_invariant_linear_call::LoopInvariantLinearCall,
        "O(n) builtin (`sorted`, `sum`, `max`, ...) of an unchanged collection in a loop"),
    ListAsSet => ("PYR109", "list-as-set", true,
        list_as_set::ListAsSet,
        "List searched (`in`, `.index`, `.count`) and grown in one loop; use a set or dict"),
    // 2xx: idioms that builtins or comprehensions do faster.
    ManualListComprehension => ("PYR201", "manual-list-comprehension", true,
        manual_list_comprehension::ManualListComprehension,
        "Loop that only appends a transformed item; use a list comprehension"),
    ManualListCopy => ("PYR202", "manual-list-copy", true,
        manual_list_copy::ManualListCopy,
        "Loop that appends every item unchanged; use `list(...)` or `.extend(...)`"),
    ManualDictComprehension => ("PYR203", "manual-dict-comprehension", false,
        manual_dict_comprehension::ManualDictComprehension,
        "Loop that only stores `d[k] = v`; a dict comprehension (clarity, not speed)"),
    ManualCounting => ("PYR204", "manual-counting", true,
        manual_counting::ManualCounting,
        "Counting or grouping by hand in a dict; use `Counter` or `defaultdict`"),
    ManualSumMinMax => ("PYR205", "manual-sum-min-max", true,
        manual_sum_min_max::ManualSumMinMax,
        "Loop that computes `sum`/`min`/`max` of an iterable by hand"),
    ManualAnyAll => ("PYR206", "manual-any-all", false,
        manual_any_all::ManualAnyAll,
        "Loop that computes `any`/`all` by hand (clarity; not faster on CPython 3.11)"),
    SortedForMinMax => ("PYR207", "sorted-for-min-max", true,
        sorted_for_min_max::SortedForMinMax,
        "`sorted(x)[0]` or `sorted(x)[-1]`; use `min(x)` or `max(x)`"),
    ListCompInAnyAll => ("PYR208", "list-comp-in-any-all", true,
        list_comp_in_any_all::ListCompInAnyAll,
        "List comprehension passed to `any`/`all`; a generator can stop early"),
    ListCompInReduction => ("PYR209", "list-comp-in-reduction", false,
        list_comp_in_reduction::ListCompInReduction,
        "List comprehension passed to `sum`/`min`/`max`; a generator avoids the list"),
    ListCompIteratedOnce => ("PYR210", "list-comp-iterated-once", false,
        list_comp_iterated_once::ListCompIteratedOnce,
        "List comprehension only iterated once by a `for`; a generator avoids the list"),
    RangeLenIndexing => ("PYR211", "range-len-indexing", true,
        range_len_indexing::RangeLenIndexing,
        "`for i in range(len(x))` that uses `i` only for `x[i]`; iterate `x` instead"),
    UnnecessaryListCast => ("PYR212", "unnecessary-list-cast", true,
        unnecessary_list_cast::UnnecessaryListCast,
        "`for v in list(x)` where `x` is already a list, tuple or set"),
    IncorrectDictIterator => ("PYR213", "incorrect-dict-iterator", true,
        incorrect_dict_iterator::IncorrectDictIterator,
        "`.items()` loop that discards the key or the value; use `.values()`/`.keys()`"),
    // 3xx: caching.
    CacheOnMethod => ("PYR301", "cache-on-method", true,
        cache_on_method::CacheOnMethod,
        "`lru_cache`/`cache` on a method keeps every instance alive"),
    UnboundedCache => ("PYR302", "unbounded-cache", false,
        unbounded_cache::UnboundedCache,
        "Unbounded `lru_cache(maxsize=None)`/`cache` on a function of unbounded inputs"),
    // 4xx: I/O and libraries.
    ReadWholeFileToIterate => ("PYR401", "read-whole-file-to-iterate", true,
        read_whole_file_to_iterate::ReadWholeFileToIterate,
        "`read()`/`readlines()` of a whole file only to loop over its lines"),
    RegexInLoop => ("PYR402", "regex-in-loop", true,
        regex_in_loop::RegexInLoop,
        "`re.compile`/`re.<fn>` with a constant pattern inside a loop"),
    DeepcopyInLoop => ("PYR403", "deepcopy-in-loop", true,
        deepcopy_in_loop::DeepcopyInLoop,
        "`copy.deepcopy` inside a loop"),
    NumpyElementwiseLoop => ("PYR404", "numpy-elementwise-loop", true,
        numpy_elementwise_loop::NumpyElementwiseLoop,
        "Python loop over a numpy array element by element; vectorise"),
    ThreadsForCpuBound => ("PYR405", "threads-for-cpu-bound", true,
        threads_for_cpu_bound::ThreadsForCpuBound,
        "Threads running pure-Python CPU-bound work (the GIL serialises them)"),
    // 5xx: micro-optimisations in hot loops; off by default.
    GlobalLookupInLoop => ("PYR501", "global-lookup-in-loop", false,
        global_lookup_in_loop::GlobalLookupInLoop,
        "Module global or builtin looked up on every iteration of a loop"),
    DottedLookupInLoop => ("PYR502", "dotted-lookup-in-loop", false,
        dotted_lookup_in_loop::DottedLookupInLoop,
        "`module.attr` lookup of an imported module on every iteration of a loop"),
    LoopInvariantLen => ("PYR503", "loop-invariant-len", false,
        loop_invariant_len::LoopInvariantLen,
        "`len(x)` of an unchanged `x` recomputed on every iteration"),
    BytesSliceInLoop => ("PYR504", "bytes-slice-in-loop", false,
        bytes_slice_in_loop::BytesSliceInLoop,
        "Slicing a `bytes` object in a loop copies; slice a `memoryview`"),
    TupleOverList => ("PYR505", "tuple-over-list", false,
        tuple_over_list::TupleOverList,
        "Constant list literal that is never mutated; a tuple is built once"),
    TryExceptInLoop => ("PYR506", "try-except-in-loop", false,
        try_except_in_loop::TryExceptInLoop,
        "`try`/`except` inside a loop body (costly before CPython 3.11 only)"),
}

/// Static facts about one rule, for documentation, `--explain` and renderers.
#[derive(Debug)]
pub struct RuleInfo {
    /// The rule.
    pub rule: Rule,
    /// `PYR###`.
    pub code: &'static str,
    /// Kebab-case name, e.g. `string-concat-in-loop`.
    pub name: &'static str,
    /// Whether the rule runs when `select` is empty (or selects it by a prefix).
    pub default_enabled: bool,
    /// One line.
    pub summary: &'static str,
    explanation: &'static str,
}

impl RuleInfo {
    /// The rule's full documentation (Markdown): what it does, why, example, gain.
    pub fn explanation(&self) -> String {
        self.explanation
            .lines()
            .map(|line| line.strip_prefix(' ').unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    }

    /// The text of the `## Expected gain` section (first paragraph), if any.
    pub fn expected_gain(&self) -> Option<String> {
        let doc = self.explanation();
        let (_, rest) = doc.split_once("## Expected gain")?;
        let para: Vec<&str> = rest
            .trim_start()
            .lines()
            .take_while(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .map(str::trim)
            .collect();
        (!para.is_empty()).then(|| para.join(" "))
    }
}

impl Rule {
    /// The rule's table entry.
    pub fn info(self) -> &'static RuleInfo {
        &RULES[self as usize]
    }

    /// `PYR###`.
    pub fn code(self) -> &'static str {
        self.info().code
    }

    /// Looks a rule up by its exact code (case-insensitive).
    pub fn from_code(code: &str) -> Option<Rule> {
        RULES
            .iter()
            .find(|info| info.code.eq_ignore_ascii_case(code))
            .map(|info| info.rule)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Every rule, in code order.
pub fn rules() -> &'static [RuleInfo] {
    RULES
}

/// A set of rules, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleSet(u64);

impl RuleSet {
    /// No rule.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Every rule.
    pub fn all() -> Self {
        RULES
            .iter()
            .fold(Self::empty(), |set, info| set.with(info.rule))
    }

    /// The rules whose `default_enabled` is true.
    pub fn defaults() -> Self {
        RULES
            .iter()
            .filter(|info| info.default_enabled)
            .fold(Self::empty(), |set, info| set.with(info.rule))
    }

    /// This set plus `rule`.
    #[must_use]
    pub const fn with(self, rule: Rule) -> Self {
        Self(self.0 | (1 << rule as u64))
    }

    /// This set minus `rule`.
    #[must_use]
    pub const fn without(self, rule: Rule) -> Self {
        Self(self.0 & !(1 << rule as u64))
    }

    /// Whether `rule` is in the set.
    pub const fn contains(self, rule: Rule) -> bool {
        self.0 & (1 << rule as u64) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether any rule of `other` is in this set.
    pub const fn intersects(self, other: RuleSet) -> bool {
        self.0 & other.0 != 0
    }

    /// The rules in the set, in code order.
    pub fn iter(self) -> impl Iterator<Item = Rule> {
        RULES
            .iter()
            .map(|info| info.rule)
            .filter(move |rule| self.contains(*rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert!(RULES.len() <= 64, "RuleSet is a u64");
        let mut codes = std::collections::HashSet::new();
        for (index, info) in RULES.iter().enumerate() {
            assert_eq!(info.rule as usize, index, "{} out of order", info.code);
            assert!(codes.insert(info.code), "duplicate {}", info.code);
            assert!(info.code.starts_with("PYR") && info.code.len() == 6);
            let doc = info.explanation();
            for section in [
                "## What it does",
                "## Why is this bad?",
                "## Example",
                "Use instead:",
                "## Expected gain",
            ] {
                assert!(doc.contains(section), "{} lacks {section}", info.code);
            }
            assert!(info.expected_gain().is_some(), "{}", info.code);
        }
        let sorted: Vec<_> = RULES.iter().map(|info| info.code).collect();
        let mut resorted = sorted.clone();
        resorted.sort_unstable();
        assert_eq!(sorted, resorted);
    }
}
