//! Metrics declared once: [`metric_set!`](crate::metric_set) makes a struct whose fields are
//! metrics, each with its help text, and the registry that exposes them under their field names.

pub use prometheus_client::registry::Registry;

/// Something a metric set can register under a name.
pub trait Register {
    fn register_as(&self, registry: &mut Registry, name: &str, help: &str);
}

impl<M: prometheus_client::registry::Metric + Clone> Register for M {
    fn register_as(&self, registry: &mut Registry, name: &str, help: &str) {
        registry.register(name, help, self.clone());
    }
}

/// A struct of metrics, each field declared once with its help text and initial value; its
/// `registry(prefix)` exposes every field as `<prefix>_<field>`:
///
/// ```
/// common::metric_set! {
///     pub struct Demo {
///         /// Clicks landed.
///         pub clicks: prometheus_client::metrics::counter::Counter = Default::default(),
///     }
/// }
/// let text = {
///     let mut text = String::new();
///     prometheus_client::encoding::text::encode(&mut text, &Demo::default().registry("demo")).unwrap();
///     text
/// };
/// assert!(text.contains("demo_clicks_total 0"));
/// ```
#[macro_export]
macro_rules! metric_set {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                #[doc = $help:literal]
                $field_vis:vis $field:ident : $ty:ty = $init:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone)]
        $vis struct $name {
            $(
                #[doc = $help]
                $field_vis $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $init, )* }
            }
        }

        impl $name {
            /// Every metric of the set, named `<prefix>_<field>`.
            pub fn registry(&self, prefix: &str) -> $crate::metrics::Registry {
                let mut registry = $crate::metrics::Registry::with_prefix(prefix);
                $(
                    $crate::metrics::Register::register_as(
                        &self.$field,
                        &mut registry,
                        stringify!($field),
                        $help.trim(),
                    );
                )*
                registry
            }
        }
    };
}
