//! Names of the functions the tracer met: read from code objects at snapshot time, and for
//! built-ins computed once, when first seen, exactly as cProfile labels them (so pstats keys
//! agree): `<built-in method builtins.len>`, `<method 'append' of 'list' objects>`.

use std::ffi::CStr;

use pyo3_ffi::*;

use crate::py::{self, Gil};

unsafe extern "C" {
    /// Looks `name` up along `type`'s MRO without invoking descriptors. Exported (though
    /// underscored) by every CPython this crate supports; cProfile uses it for the same label.
    fn _PyType_Lookup(type_: *mut PyTypeObject, name: *mut PyObject) -> *mut PyObject;
}

/// Names of a built-in function or method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltinNames {
    /// The label cProfile gives it (the pstats key's name).
    pub label: String,
    /// What people call it: `builtins.len`, `list.append`, `time.sleep`.
    pub qualname: String,
}

/// The module name a C function object records (`m_module` is a str or a module), if any.
///
/// # Safety
/// GIL held; `module` is null or a live object.
unsafe fn module_name(gil: &Gil, module: *mut PyObject) -> Option<String> {
    if module.is_null() {
        return None;
    }
    // SAFETY: GIL held; `module` is live.
    unsafe {
        if PyUnicode_Check(module) != 0 {
            return py::str_of(module);
        }
        if PyModule_Check(module) != 0 {
            let name = PyModule_GetNameObject(module);
            return match py::Owned::new(gil, name) {
                Ok(n) => py::str_of(n.as_ptr()),
                Err(_) => None,
            };
        }
    }
    None
}

/// Names a C function the way cProfile's `normalizeUserObj` does, from the parts of a
/// `builtin_function_or_method`: its method definition, its `__self__` and its `__module__`.
///
/// # Safety
/// GIL held; `ml` points to a live `PyMethodDef`; `self_` and `module` are null or live.
pub unsafe fn describe_builtin(
    gil: &Gil,
    ml: *const PyMethodDef,
    self_: *mut PyObject,
    module: *mut PyObject,
) -> BuiltinNames {
    // SAFETY: `ml` is live per the contract; `ml_name` is a NUL-terminated static string.
    let ml_name = unsafe { CStr::from_ptr((*ml).ml_name) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: GIL held, pointers live per the contract.
    let modname = unsafe { module_name(gil, module) };
    if self_.is_null() {
        return match modname {
            Some(m) if m != "builtins" => BuiltinNames {
                label: format!("<{m}.{ml_name}>"),
                qualname: format!("{m}.{ml_name}"),
            },
            _ => BuiltinNames {
                label: format!("<{ml_name}>"),
                qualname: ml_name,
            },
        };
    }
    // SAFETY: GIL held; `self_` is live; `_PyType_Lookup` returns a borrowed reference or null
    // without setting an exception; we take our own reference before calling repr.
    // The label: repr(type(self).<name>), as cProfile has it; the owner: the class that
    // defines the method (a descriptor's `d_type`), not `type(self)`, which may be a subclass.
    // SAFETY: GIL held; `self_` is live; `_PyType_Lookup` returns a borrowed reference or null
    // without setting an exception, and we take our own reference before calling repr.
    let (label, defining) = unsafe {
        let tp = Py_TYPE(self_);
        let mut defining: Option<String> = None;
        let name = py::string(gil, &ml_name).ok();
        let found = name.and_then(|n| {
            let mo = _PyType_Lookup(tp, n.as_ptr());
            if mo.is_null() {
                return None;
            }
            Py_INCREF(mo);
            let mo = py::Owned(mo);
            if Py_TYPE(mo.as_ptr()) == &raw mut PyMethodDescr_Type {
                let d_type = (*mo.as_ptr().cast::<PyDescrObject>()).d_type;
                if !d_type.is_null() {
                    defining = Some(
                        CStr::from_ptr((*d_type).tp_name)
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
            py::Owned::new(gil, PyObject_Repr(mo.as_ptr()))
                .ok()
                .and_then(|r| py::str_of(r.as_ptr()))
        });
        if !PyErr_Occurred().is_null() {
            PyErr_Clear();
        }
        (found, defining)
    };
    let label = label.unwrap_or_else(|| match &modname {
        Some(m) => format!("<built-in method {m}.{ml_name}>"),
        None => format!("<built-in method {ml_name}>"),
    });
    // SAFETY: GIL held; `self_` is live; tp_name is a NUL-terminated string.
    let owner = unsafe {
        if PyModule_Check(self_) != 0 {
            module_name(gil, self_)
        } else {
            defining.or_else(|| {
                Some(
                    CStr::from_ptr((*Py_TYPE(self_)).tp_name)
                        .to_string_lossy()
                        .into_owned(),
                )
            })
        }
    };
    let qualname = match owner.or(modname) {
        Some(o) => format!("{o}.{ml_name}"),
        None => ml_name,
    };
    BuiltinNames { label, qualname }
}

/// Names of a Python function from its code object.
pub struct CodeNames {
    pub name: String,
    pub qualname: String,
    pub file: String,
    pub first_line: u32,
}

/// # Safety
/// GIL held; `code` is a live code object.
pub unsafe fn describe_code(gil: &Gil, code: *mut PyObject) -> CodeNames {
    let name = py::attr_string(gil, code, "co_name").unwrap_or_else(|| "?".into());
    let qualname = py::attr_string(gil, code, "co_qualname").unwrap_or_else(|| name.clone());
    let file = py::attr_string(gil, code, "co_filename").unwrap_or_else(|| "?".into());
    let first_line = py::attr_i64(gil, code, "co_firstlineno")
        .unwrap_or(0)
        .max(0) as u32;
    CodeNames {
        name,
        qualname,
        file,
        first_line,
    }
}
