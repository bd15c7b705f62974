//! `#[derive(ShmSafe)]` for [shmsync](https://docs.rs/shmsync).
//!
//! Use it through `shmsync` (`use shmsync::ShmSafe;` brings the trait and the
//! derive together). The derive accepts only structs that are `#[repr(C)]`
//! (optionally with `align(N)`) or `#[repr(transparent)]` and whose every
//! field is `ShmSafe`; it rejects enums, unions, `repr(packed)` and any field
//! type that is not `ShmSafe` (pointers, references, `Box`, `String`, …) with
//! a compile error, as well as fields with invalid bit patterns (`bool`,
//! `char`), which another process could write. It generates the type's name
//! and its layout fingerprint from the type's name, the field names, the
//! fields' own fingerprints, their offsets, and the struct's size and
//! alignment. It also records the field layout (`ShmSafe::LAYOUT`: each
//! field's name, offset, size, type name and kind), which segments carry
//! as their field map for inspection.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, parse_quote, Data, DeriveInput, Error};

/// Implements `shmsync::ShmSafe` for a `#[repr(C)]` struct of `ShmSafe`
/// fields. See the crate documentation for what is accepted.
///
/// `#[shmsync(crate = "path")]` names the path of the `shmsync` crate when it
/// is not `::shmsync` (a renamed dependency, or a re-export), as `serde` and
/// `bytemuck` allow:
///
/// ```text
/// // Cargo.toml: shm = { package = "shmsync", version = "0.1" }
/// #[derive(shm::ShmSafe)]
/// #[shmsync(crate = "shm")]
/// #[repr(C)]
/// struct Stats { hits: shm::AtomicCounter }
/// ```
#[proc_macro_derive(ShmSafe, attributes(shmsync))]
pub fn derive_shm_safe(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand(mut input: DeriveInput) -> syn::Result<TokenStream2> {
    let krate = crate_path(&input)?;
    let name = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        Data::Enum(e) => {
            return Err(Error::new(
                e.enum_token.span(),
                "ShmSafe cannot be derived for enums: another process may write any \
                 discriminant, which would be undefined behavior; use an integer field \
                 with named constants instead",
            ))
        }
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span(),
                "ShmSafe cannot be derived for unions; use a #[repr(C)] struct",
            ))
        }
    };
    check_repr(&input)?;

    // Every type parameter must itself be ShmSafe.
    let type_params: Vec<_> = input.generics.type_params().map(|p| p.ident.clone()).collect();
    {
        let where_clause = input.generics.make_where_clause();
        for p in &type_params {
            where_clause.predicates.push(parse_quote!(#p: #krate::ShmSafe));
        }
    }
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    // Every field type that cannot live in shared memory, reported at once
    // (not just the first), with a placeholder impl so that the compiler
    // adds no "ShmSafe is not implemented" noise after our messages.
    let mut rejected: Option<Error> = None;
    for field in fields {
        if let Err(e) = reject_invalid_bit_patterns(&field.ty) {
            match &mut rejected {
                Some(all) => all.combine(e),
                None => rejected = Some(e),
            }
        }
    }
    if let Some(errors) = rejected {
        let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
        let errors = errors.to_compile_error();
        return Ok(quote! {
            #errors
            // SAFETY: never compiled into anything: the errors above stop
            // the build. It only keeps the compiler from piling on.
            unsafe impl #impl_generics #krate::ShmSafe for #name #ty_generics #where_clause {
                const TYPE_NAME: &'static str = "";
                const FINGERPRINT: u64 = 0;
            }
        });
    }
    let mut steps = Vec::new();
    let mut layout_fields = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        let ty = &field.ty;
        let (label, member) = match &field.ident {
            Some(ident) => (ident.to_string(), quote!(#ident)),
            None => {
                let idx = syn::Index::from(index);
                (index.to_string(), quote!(#idx))
            }
        };
        // The span points the "not ShmSafe" error at the offending field.
        steps.push(quote_spanned! {ty.span()=>
            h = #krate::fingerprint::str(h, #label);
            h = #krate::fingerprint::word(h, <#ty as #krate::ShmSafe>::FINGERPRINT);
            h = #krate::fingerprint::word(
                h,
                ::core::mem::offset_of!(Self, #member) as u64,
            );
        });
        layout_fields.push(quote! {
            #krate::layout::Field {
                name: #label,
                offset: ::core::mem::offset_of!(Self, #member),
                size: ::core::mem::size_of::<#ty>(),
                type_name: <#ty as #krate::ShmSafe>::TYPE_NAME,
                layout: &<#ty as #krate::ShmSafe>::LAYOUT,
            },
        });
    }
    let name_str = name.to_string();
    let drop_msg = format!(
        "{name_str} implements Drop (or holds a field that does): a segment's contents are \
         never dropped, so ShmSafe types must not need Drop"
    );
    Ok(quote! {
        // SAFETY: the derive checked that the struct is repr(C) or
        // repr(transparent) (stable layout) and not packed; every field type
        // is required to be ShmSafe by the fingerprint below (no pointers,
        // valid when zeroed, Send + Sync), so the struct is too. The Drop
        // check runs when the fingerprint is evaluated.
        unsafe impl #impl_generics #krate::ShmSafe for #name #ty_generics #where_clause {
            const TYPE_NAME: &'static str = #name_str;
            const FINGERPRINT: u64 = {
                ::core::assert!(!::core::mem::needs_drop::<Self>(), #drop_msg);
                let mut h = #krate::fingerprint::str(#krate::fingerprint::SEED, "struct");
                // The name too: two structs with the same fields are still
                // different types (`Meters` is not `Seconds`).
                h = #krate::fingerprint::str(h, #name_str);
                #(#steps)*
                h = #krate::fingerprint::word(h, ::core::mem::size_of::<Self>() as u64);
                h = #krate::fingerprint::word(h, ::core::mem::align_of::<Self>() as u64);
                h
            };
            const LAYOUT: #krate::layout::Layout = #krate::layout::Layout {
                kind: #krate::layout::Kind::Struct,
                fields: &[#(#layout_fields)*],
                len: 1,
            };
        }
    })
}

/// The path of the `shmsync` crate: `#[shmsync(crate = "path")]`, else
/// `::shmsync`.
fn crate_path(input: &DeriveInput) -> syn::Result<syn::Path> {
    let mut krate: Option<syn::Path> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("shmsync")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                krate = Some(lit.parse()?);
                Ok(())
            } else {
                Err(meta.error("unknown shmsync attribute; the only one is `crate = \"path\"`"))
            }
        })?;
    }
    Ok(krate.unwrap_or_else(|| parse_quote!(::shmsync)))
}

/// Rejects, with an error that says what to use instead, field types that
/// have invalid bit patterns (`bool`, `char`, and arrays of them): any
/// process may write any byte of a segment. The trait bound would reject
/// them too, but only with "`ShmSafe` is not implemented for `bool`".
fn reject_invalid_bit_patterns(ty: &syn::Type) -> syn::Result<()> {
    match ty {
        syn::Type::Array(a) => reject_invalid_bit_patterns(&a.elem),
        syn::Type::Paren(p) => reject_invalid_bit_patterns(&p.elem),
        syn::Type::Group(g) => reject_invalid_bit_patterns(&g.elem),
        syn::Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else { return Ok(()) };
            let hint = match last.ident.to_string().as_str() {
                "bool" => "store the flag as a `u8` or an `AtomicBool` instead",
                "char" => "store the code point as a `u32` instead",
                "String" | "str" | "OsString" | "CString" => {
                    return Err(Error::new(
                        ty.span(),
                        format!(
                            "`{}` cannot live in shared memory: it points to memory that \
                             only this process can see; store text as a byte array \
                             `[u8; N]` (with a length field if it varies)",
                            last.ident
                        ),
                    ))
                }
                "Vec" | "VecDeque" | "HashMap" | "BTreeMap" | "Box" | "Rc" | "Arc" => {
                    let instead = match last.ident.to_string().as_str() {
                        "Box" | "Rc" | "Arc" => "store the value itself, not a pointer to it",
                        _ => {
                            "use a fixed-size array `[T; N]`, or a `Segment<[E]>` for a \
                              runtime length"
                        }
                    };
                    return Err(Error::new(
                        ty.span(),
                        format!(
                            "`{}` cannot live in shared memory: it points to memory that \
                             only this process can see; {instead}",
                            last.ident
                        ),
                    ));
                }
                _ => return Ok(()),
            };
            Err(Error::new(
                ty.span(),
                format!(
                    "`{}` is not ShmSafe: any process that can open a segment may write any \
                     byte into it, and a `{}` holding an invalid bit pattern is undefined \
                     behavior; {hint}",
                    last.ident, last.ident
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Accepts `repr(C)` (with `align(N)`) and `repr(transparent)`; rejects a
/// missing repr, `repr(Rust)` and `repr(packed)`.
fn check_repr(input: &DeriveInput) -> syn::Result<()> {
    let mut stable = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                stable = true;
            } else if meta.path.is_ident("packed") {
                return Err(meta.error(
                    "ShmSafe types cannot be repr(packed): atomics and locks in shared \
                     memory must be aligned",
                ));
            } else if meta.path.is_ident("align") {
                // `align(N)`: consume the argument.
                let _ = meta.input.parse::<TokenStream2>();
            }
            Ok(())
        })?;
    }
    if stable {
        Ok(())
    } else {
        let span = match &input.data {
            Data::Struct(s) => s.struct_token.span(),
            _ => Span::call_site(),
        };
        Err(Error::new(
            span,
            "ShmSafe requires #[repr(C)] (or #[repr(transparent)]): the default Rust layout \
             may differ between builds, so processes could disagree on field offsets",
        ))
    }
}
