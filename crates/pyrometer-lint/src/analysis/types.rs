//! A tiny type lattice inferred from literals, constructor calls and annotations.

use crate::analysis::helpers::{is_str_expr, name_of};
use crate::analysis::imports::ImportMap;
use crate::analysis::scope::Bindings;
use crate::parse::ast::{self, Expr, Number, Operator};

/// What a name is known to hold in one scope. `Unknown` whenever there is any doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Unknown,
    Str,
    Bytes,
    /// `bytearray`: mutable, `+=` extends in place.
    ByteArray,
    Int,
    Float,
    Bool,
    NoneValue,
    List,
    Tuple,
    Set,
    Dict,
    DefaultDict,
    Counter,
    Deque,
    NdArray,
    File,
    ThreadPool,
}

impl Ty {
    /// A bit for [`Binding::seen`](crate::analysis::scope::Binding).
    pub(crate) fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// Least upper bound: equal types stay, anything else is unknown.
    pub(crate) fn join(self, other: Ty) -> Ty {
        if self == other { self } else { Ty::Unknown }
    }
}

/// What the inference can see: the imports of the file and the bindings of the scope so far.
pub(crate) struct InferCtx<'c, 'a> {
    pub(crate) imports: &'c ImportMap<'a>,
    pub(crate) bindings: &'c Bindings<'a>,
}

impl InferCtx<'_, '_> {
    /// The qualified name a call's callee resolves to, for constructor calls.
    fn callee(&self, func: &Expr) -> Option<String> {
        match func {
            Expr::Name(name) => {
                let id = name.id.as_str();
                if self.bindings.contains(id) && !self.bindings.is_import(id) {
                    return None;
                }
                match self.imports.get(id) {
                    Some(qualified) => Some(qualified.to_string()),
                    None => Some(format!("builtins.{id}")),
                }
            }
            Expr::Attribute(attr) => {
                let base = self.callee_base(&attr.value)?;
                Some(format!("{base}.{}", attr.attr.as_str()))
            }
            _ => None,
        }
    }

    fn callee_base(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                if self.bindings.contains(id) && !self.bindings.is_import(id) {
                    return None;
                }
                self.imports.get(id).map(ToString::to_string)
            }
            Expr::Attribute(attr) => {
                let base = self.callee_base(&attr.value)?;
                Some(format!("{base}.{}", attr.attr.as_str()))
            }
            _ => None,
        }
    }

    /// Infers the type of an expression.
    pub(crate) fn infer(&self, expr: &Expr) -> Ty {
        match expr {
            Expr::StringLiteral(_) | Expr::FString(_) => Ty::Str,
            Expr::BytesLiteral(_) => Ty::Bytes,
            Expr::NumberLiteral(number) => match number.value {
                Number::Int(_) => Ty::Int,
                Number::Float(_) => Ty::Float,
                Number::Complex { .. } => Ty::Unknown,
            },
            Expr::BooleanLiteral(_) => Ty::Bool,
            Expr::NoneLiteral(_) => Ty::NoneValue,
            Expr::List(_) | Expr::ListComp(_) => Ty::List,
            Expr::Tuple(_) => Ty::Tuple,
            Expr::Set(_) | Expr::SetComp(_) => Ty::Set,
            Expr::Dict(_) | Expr::DictComp(_) => Ty::Dict,
            Expr::Name(name) => self.bindings.ty(name.id.as_str()),
            Expr::BinOp(binop) => self.infer_binop(binop),
            // Slicing keeps the type of the builtin sequences.
            Expr::Subscript(subscript) if matches!(*subscript.slice, Expr::Slice(_)) => {
                match self.infer(&subscript.value) {
                    ty @ (Ty::Str | Ty::Bytes | Ty::List | Ty::Tuple) => ty,
                    _ => Ty::Unknown,
                }
            }
            Expr::Call(call) => self.infer_call(call),
            _ => Ty::Unknown,
        }
    }

    fn infer_binop(&self, binop: &ast::ExprBinOp) -> Ty {
        let left = self.infer(&binop.left);
        match binop.op {
            Operator::Add => {
                let right = self.infer(&binop.right);
                match (left, right) {
                    (Ty::Str, _) | (_, Ty::Str) => Ty::Str,
                    // `list + x` is a list or a TypeError.
                    (Ty::List, _) | (_, Ty::List) => Ty::List,
                    (Ty::Tuple, Ty::Tuple) => Ty::Tuple,
                    (Ty::Bytes, Ty::Bytes) => Ty::Bytes,
                    (Ty::Int, Ty::Int) => Ty::Int,
                    _ => Ty::Unknown,
                }
            }
            // `"%s" % x` formats; `[0] * n` repeats.
            Operator::Mod if matches!(*binop.left, Expr::StringLiteral(_)) => Ty::Str,
            Operator::Mult if matches!(left, Ty::List | Ty::Str | Ty::Tuple) => left,
            _ => Ty::Unknown,
        }
    }

    fn infer_call(&self, call: &ast::ExprCall) -> Ty {
        // Methods on known receivers first: `"".join(...)`, `s.strip()`, `"{}".format(...)`.
        if let Expr::Attribute(attr) = &*call.func {
            let method = attr.attr.as_str();
            if is_str_expr(&attr.value) || self.infer(&attr.value) == Ty::Str {
                return if STR_TO_STR_METHODS.contains(&method) {
                    Ty::Str
                } else if method == "split" || method == "splitlines" {
                    Ty::List
                } else {
                    Ty::Unknown
                };
            }
            if matches!(*attr.value, Expr::BytesLiteral(_)) && method == "join" {
                return Ty::Bytes;
            }
            // `str.split`, `bytes.split`, `re.split`, `Pattern.findall`, `file.readlines`: all
            // return new lists.
            if matches!(
                method,
                "split" | "rsplit" | "splitlines" | "readlines" | "findall"
            ) {
                return Ty::List;
            }
        }
        let Some(callee) = self.callee(&call.func) else {
            return Ty::Unknown;
        };
        match callee.as_str() {
            "builtins.str" | "builtins.repr" | "builtins.chr" | "builtins.hex" | "builtins.oct"
            | "builtins.bin" | "builtins.format" | "builtins.ascii" => Ty::Str,
            "builtins.bytes" => Ty::Bytes,
            "builtins.bytearray" => Ty::ByteArray,
            "builtins.int" | "builtins.len" | "builtins.ord" => Ty::Int,
            "builtins.float" => Ty::Float,
            "builtins.bool" => Ty::Bool,
            "builtins.list" | "builtins.sorted" => Ty::List,
            "builtins.tuple" => Ty::Tuple,
            "builtins.set" | "builtins.frozenset" => Ty::Set,
            "builtins.dict" => Ty::Dict,
            "collections.defaultdict" => Ty::DefaultDict,
            "collections.Counter" => Ty::Counter,
            "collections.deque" => Ty::Deque,
            "builtins.open" | "io.open" | "gzip.open" | "bz2.open" | "lzma.open" => Ty::File,
            "concurrent.futures.ThreadPoolExecutor"
            | "concurrent.futures.thread.ThreadPoolExecutor"
            | "multiprocessing.pool.ThreadPool"
            | "multiprocessing.dummy.Pool" => Ty::ThreadPool,
            other => {
                if let Some(function) = other.strip_prefix("numpy.")
                    && NUMPY_ARRAY_CONSTRUCTORS.contains(&function)
                {
                    return Ty::NdArray;
                }
                Ty::Unknown
            }
        }
    }

    /// The type an annotation declares, for the few annotations that name a known type.
    pub(crate) fn annotation(&self, annotation: &Expr) -> Ty {
        let head = match annotation {
            Expr::Subscript(subscript) => &*subscript.value,
            other => other,
        };
        if let Some(name) = name_of(head) {
            // Builtin spellings, and `typing` aliases imported by name.
            let resolved = self.imports.get(name).map(ToString::to_string);
            let spelled = resolved.as_deref().unwrap_or(name);
            return match spelled {
                "str" => Ty::Str,
                "bytes" => Ty::Bytes,
                "int" => Ty::Int,
                "float" => Ty::Float,
                "bool" => Ty::Bool,
                "list" | "typing.List" => Ty::List,
                "tuple" | "typing.Tuple" => Ty::Tuple,
                "set" | "typing.Set" => Ty::Set,
                "dict" | "typing.Dict" => Ty::Dict,
                "collections.deque" | "typing.Deque" => Ty::Deque,
                "numpy.ndarray" | "numpy.typing.NDArray" => Ty::NdArray,
                _ => Ty::Unknown,
            };
        }
        match self.callee_base(head).as_deref() {
            Some("typing.List") => Ty::List,
            Some("typing.Dict") => Ty::Dict,
            Some("typing.Tuple") => Ty::Tuple,
            Some("typing.Set") => Ty::Set,
            Some("numpy.ndarray" | "numpy.typing.NDArray") => Ty::NdArray,
            _ => Ty::Unknown,
        }
    }
}

/// `str` methods that return a `str`.
const STR_TO_STR_METHODS: &[&str] = &[
    "join",
    "format",
    "strip",
    "lstrip",
    "rstrip",
    "lower",
    "upper",
    "replace",
    "title",
    "casefold",
    "capitalize",
    "center",
    "ljust",
    "rjust",
    "zfill",
    "expandtabs",
    "removeprefix",
    "removesuffix",
    "swapcase",
    "translate",
    "format_map",
];

/// numpy functions that return a new `ndarray`.
const NUMPY_ARRAY_CONSTRUCTORS: &[&str] = &[
    "array",
    "asarray",
    "zeros",
    "ones",
    "empty",
    "full",
    "arange",
    "linspace",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
    "random.rand",
    "random.randn",
    "random.random",
    "random.randint",
    "random.uniform",
    "random.normal",
];
