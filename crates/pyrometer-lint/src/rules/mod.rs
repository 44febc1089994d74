//! One file per rule. Each has a documented violation struct and a `check` function; this module
//! only routes AST nodes to the enabled rules.

use crate::checker::Checker;
use crate::codes::Rule;
use crate::parse::ast::{self, Expr};

pub(crate) mod bytes_slice_in_loop;
pub(crate) mod cache_on_method;
pub(crate) mod deepcopy_in_loop;
pub(crate) mod dotted_lookup_in_loop;
pub(crate) mod exchange_sort;
pub(crate) mod global_lookup_in_loop;
pub(crate) mod incorrect_dict_iterator;
pub(crate) mod list_as_set;
pub(crate) mod list_comp_in_any_all;
pub(crate) mod list_comp_in_reduction;
pub(crate) mod list_comp_iterated_once;
pub(crate) mod list_front_op_in_loop;
pub(crate) mod list_membership_in_loop;
pub(crate) mod loop_invariant_len;
pub(crate) mod loop_invariant_linear_call;
pub(crate) mod manual_any_all;
pub(crate) mod manual_counting;
pub(crate) mod manual_dict_comprehension;
pub(crate) mod manual_list_comprehension;
pub(crate) mod manual_list_copy;
pub(crate) mod manual_sum_min_max;
pub(crate) mod naive_recursion;
pub(crate) mod nested_loop_join;
pub(crate) mod numpy_elementwise_loop;
pub(crate) mod quadratic_list_concat;
pub(crate) mod range_len_indexing;
pub(crate) mod read_whole_file_to_iterate;
pub(crate) mod regex_in_loop;
pub(crate) mod sorted_for_min_max;
pub(crate) mod string_concat_in_loop;
pub(crate) mod threads_for_cpu_bound;
pub(crate) mod try_except_in_loop;
pub(crate) mod tuple_over_list;
pub(crate) mod unbounded_cache;
pub(crate) mod unnecessary_list_cast;

/// Whether the node is repeated by a loop of the current scope that is not a short constant
/// loop (`for x in (a, b)`, `for i in range(3)`), outside any block that leaves the loop
/// (`...; break`): per-iteration costs elsewhere are noise.
fn in_long_loop(checker: &Checker<'_>) -> bool {
    checker.in_loop() && !checker.current_loop_is_short() && !checker.in_exiting_block()
}

pub(crate) fn check_for<'a>(checker: &mut Checker<'a>, stmt: &'a ast::StmtFor) {
    if crate::analysis::helpers::is_short_iteration(&stmt.iter) {
        return;
    }
    if checker.enabled(Rule::ManualListComprehension) {
        manual_list_comprehension::check(checker, stmt);
    }
    if checker.enabled(Rule::ManualListCopy) {
        manual_list_copy::check(checker, stmt);
    }
    if checker.enabled(Rule::ManualDictComprehension) {
        manual_dict_comprehension::check(checker, stmt);
    }
    if checker.enabled(Rule::ManualSumMinMax) {
        manual_sum_min_max::check(checker, stmt);
    }
    if checker.enabled(Rule::ManualAnyAll) {
        manual_any_all::check(checker, stmt);
    }
    if checker.enabled(Rule::ListCompIteratedOnce) {
        list_comp_iterated_once::check_for(checker, stmt);
    }
    if checker.enabled(Rule::RangeLenIndexing) {
        range_len_indexing::check(checker, stmt);
    }
    if checker.enabled(Rule::UnnecessaryListCast) {
        unnecessary_list_cast::check(checker, stmt);
    }
    if checker.enabled(Rule::IncorrectDictIterator) {
        incorrect_dict_iterator::check(checker, stmt);
    }
    if checker.enabled(Rule::ReadWholeFileToIterate) {
        read_whole_file_to_iterate::check(checker, stmt);
    }
    if checker.enabled(Rule::NumpyElementwiseLoop) {
        numpy_elementwise_loop::check(checker, stmt);
    }
    if checker.enabled(Rule::NestedLoopJoin) {
        nested_loop_join::check_for(checker, stmt);
    }
    if checker.enabled(Rule::ExchangeSort) {
        exchange_sort::check(
            checker,
            &stmt.body,
            crate::checker::CostRange::for_loop(stmt),
        );
    }
    if checker.enabled(Rule::TryExceptInLoop) {
        try_except_in_loop::check(
            checker,
            &stmt.body,
            crate::checker::CostRange::for_loop(stmt),
        );
    }
}

pub(crate) fn check_while<'a>(checker: &mut Checker<'a>, stmt: &'a ast::StmtWhile) {
    if checker.enabled(Rule::ExchangeSort) {
        exchange_sort::check(
            checker,
            &stmt.body,
            crate::checker::CostRange::while_loop(stmt),
        );
    }
    if checker.enabled(Rule::TryExceptInLoop) {
        try_except_in_loop::check(
            checker,
            &stmt.body,
            crate::checker::CostRange::while_loop(stmt),
        );
    }
}

pub(crate) fn check_assign<'a>(checker: &mut Checker<'a>, assign: &'a ast::StmtAssign) {
    if !in_long_loop(checker) {
        return;
    }
    if checker.enabled(Rule::StringConcatInLoop) {
        string_concat_in_loop::check_assign(checker, assign);
    }
    if checker.enabled(Rule::QuadraticListConcat) {
        quadratic_list_concat::check_assign(checker, assign);
    }
    if checker.enabled(Rule::ManualCounting) {
        manual_counting::check_assign(checker, assign);
    }
}

pub(crate) fn check_aug_assign<'a>(checker: &mut Checker<'a>, assign: &'a ast::StmtAugAssign) {
    if checker.enabled(Rule::StringConcatInLoop) && in_long_loop(checker) {
        string_concat_in_loop::check_aug_assign(checker, assign);
    }
}

pub(crate) fn check_if<'a>(checker: &mut Checker<'a>, stmt: &'a ast::StmtIf) {
    if checker.enabled(Rule::ManualCounting) && in_long_loop(checker) {
        manual_counting::check_if(checker, stmt);
    }
}

pub(crate) fn check_function<'a>(checker: &mut Checker<'a>, function: &'a ast::StmtFunctionDef) {
    if checker.enabled(Rule::NaiveRecursion) {
        naive_recursion::check(checker, function);
    }
    if checker.enabled(Rule::CacheOnMethod) {
        cache_on_method::check(checker, function);
    }
    if checker.enabled(Rule::UnboundedCache) {
        unbounded_cache::check(checker, function);
    }
    if checker.enabled(Rule::TupleOverList) {
        tuple_over_list::check(checker, function);
    }
}

pub(crate) fn check_call<'a>(checker: &mut Checker<'a>, expr: &'a Expr, call: &'a ast::ExprCall) {
    if checker.enabled(Rule::QuadraticListConcat) {
        quadratic_list_concat::check_sum(checker, expr, call);
    }
    if checker.enabled(Rule::ListCompInAnyAll) {
        list_comp_in_any_all::check(checker, call);
    }
    if checker.enabled(Rule::ListCompInReduction) {
        list_comp_in_reduction::check(checker, call);
    }
    if checker.enabled(Rule::ThreadsForCpuBound) {
        threads_for_cpu_bound::check(checker, call);
    }
    if !in_long_loop(checker) {
        return;
    }
    if checker.enabled(Rule::ListFrontOpInLoop) {
        list_front_op_in_loop::check(checker, call);
    }
    if checker.enabled(Rule::LoopInvariantLinearCall) {
        loop_invariant_linear_call::check(checker, expr, call);
    }
    if checker.enabled(Rule::ManualCounting) {
        manual_counting::check_setdefault(checker, call);
    }
    if checker.enabled(Rule::RegexInLoop) {
        regex_in_loop::check(checker, call);
    }
    if checker.enabled(Rule::DeepcopyInLoop) {
        deepcopy_in_loop::check(checker, call);
    }
    if checker.enabled(Rule::LoopInvariantLen) {
        loop_invariant_len::check(checker, call);
    }
    if checker.enabled(Rule::ListAsSet) {
        list_as_set::check_call(checker, call);
    }
}

pub(crate) fn check_compare<'a>(checker: &mut Checker<'a>, compare: &'a ast::ExprCompare) {
    if checker.enabled(Rule::ListMembershipInLoop) && in_long_loop(checker) {
        list_membership_in_loop::check(checker, compare);
    }
    if checker.enabled(Rule::ListAsSet) && in_long_loop(checker) {
        list_as_set::check_compare(checker, compare);
    }
}

pub(crate) fn check_subscript<'a>(checker: &mut Checker<'a>, subscript: &'a ast::ExprSubscript) {
    if checker.enabled(Rule::SortedForMinMax) {
        sorted_for_min_max::check(checker, subscript);
    }
    if checker.enabled(Rule::BytesSliceInLoop) && in_long_loop(checker) {
        bytes_slice_in_loop::check(checker, subscript);
    }
}

pub(crate) fn check_name<'a>(checker: &mut Checker<'a>, name: &'a ast::ExprName) {
    if checker.enabled(Rule::GlobalLookupInLoop) && in_long_loop(checker) {
        global_lookup_in_loop::check(checker, name);
    }
}

pub(crate) fn check_attribute<'a>(checker: &mut Checker<'a>, attr: &'a ast::ExprAttribute) {
    if checker.enabled(Rule::DottedLookupInLoop) && in_long_loop(checker) {
        dotted_lookup_in_loop::check(checker, attr);
    }
}

pub(crate) fn check_comprehension<'a>(checker: &mut Checker<'a>, expr: &'a Expr) {
    if checker.enabled(Rule::NestedLoopJoin) {
        nested_loop_join::check_comprehension(checker, expr);
    }
    if checker.enabled(Rule::ListCompIteratedOnce) {
        list_comp_iterated_once::check_comprehension(checker, expr);
    }
}
