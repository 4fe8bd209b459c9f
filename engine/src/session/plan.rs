//! Checking a request and planning its work, per action (PROTOCOL.md section 2).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::job::{Job, Work, Write};
use super::request;
use super::{Session, Step};
use crate::binding::ModelBinding;
use crate::filter::{parse_filter, Filter, Ordering};
use crate::outbound::SubKey;
use crate::protocol::{ApiError, ErrorCode, EventName, Inbound};
use crate::query::{QuerySpec, Shape};
use crate::validate::{validate_write, WriteMode};

impl Session {
    pub(super) fn plan(&mut self, inbound: Inbound) -> Result<Step, ApiError> {
        let Inbound { event, data } = inbound;
        let registry = self.engine.registry();
        let work = if let Some(handler) = registry.handler(event.stream(), event.action()) {
            Work::Custom { handler, data }
        } else if let Some(binding) = registry.get(event.stream()).cloned() {
            self.model_work(&event, binding, &data)?
        } else if registry.has_stream(event.stream()) && event.action() == "unsubscribe" {
            Work::Unsubscribe
        } else if registry.has_stream(event.stream()) {
            return Err(unknown_action(&event));
        } else {
            return Err(ApiError::new(ErrorCode::UnknownEvent, format!("no stream {}", event.stream())));
        };
        if event.action() == "unsubscribe" {
            if event.hash().is_none() {
                self.leave(event.stream());
            }
        } else {
            self.join(event.stream());
        }
        Ok(Step::Run(Box::new(Job::new(self.engine.clone(), self.conn.clone(), event, work))))
    }

    fn model_work(&self, event: &EventName, binding: Arc<ModelBinding>, data: &Map<String, Value>) -> Result<Work, ApiError> {
        let limits = self.engine.limits();
        Ok(match event.action() {
            "retrieve" => {
                let pk = request::pk(data)?;
                let key = if request::flag(data, "subscribe", true)? {
                    Some(self.reserve(event, Some(pk))?)
                } else {
                    None
                };
                Work::Retrieve { binding, pk, key }
            }
            "search" => {
                let page = match request::int(data, "page")? {
                    None => 1,
                    Some(p) if p >= 1 => p as u64,
                    Some(_) => return Err(ApiError::bad_request("page starts at 1")),
                };
                let default = binding.own_page_size().unwrap_or(limits.page_size);
                let limit = request::int(data, "limit")?
                    .map_or(default, |l| l.clamp(1, limits.max_page_size as i64) as u64)
                    .min(limits.max_page_size);
                self.query_work(event, binding, data, Shape::Search { page, limit })?
            }
            "list" => self.query_work(event, binding, data, Shape::List { limit: limits.max_list_size })?,
            "subscribe" => {
                let filter = match request::opt_pk(data)? {
                    Some(pk) => Filter::pk(pk),
                    None => parse_filter(&binding, &request::filters(data)?, None, limits.max_in_list)?,
                };
                Work::Feed { key: self.reserve(event, None)?, filter }
            }
            "create" => Work::Write { write: Write::Create { values: validate_write(&binding, data, WriteMode::Create)? }, binding },
            "update" => {
                let pk = request::pk(data)?;
                let values = validate_write(&binding, data, WriteMode::Update)?;
                Work::Write { binding, write: Write::Update { pk, values } }
            }
            "save" => {
                let write = match request::opt_pk(data)? {
                    Some(pk) => Write::Update { pk, values: validate_write(&binding, data, WriteMode::Replace)? },
                    None => Write::Create { values: validate_write(&binding, data, WriteMode::Create)? },
                };
                Work::Write { binding, write }
            }
            "delete" => Work::Write { write: Write::Delete { pk: request::pk(data)? }, binding },
            "form" => {
                let pk = request::opt_pk(data)?;
                let submit = match data.get("submit") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(values)) => Some(match pk {
                        // Editing: a partial update, so a form that leaves a field out keeps it.
                        Some(pk) => Write::Update { pk, values: validate_write(&binding, values, WriteMode::Update)? },
                        None => Write::Create { values: validate_write(&binding, values, WriteMode::Create)? },
                    }),
                    Some(_) => return Err(ApiError::bad_request("submit must be an object")),
                };
                Work::Form { binding, pk, submit }
            }
            "unsubscribe" => Work::Unsubscribe,
            _ => return Err(unknown_action(event)),
        })
    }

    /// A `search` or `list`: live unless the request says `"subscribe": false`.
    fn query_work(&self, event: &EventName, binding: Arc<ModelBinding>, data: &Map<String, Value>, shape: Shape) -> Result<Work, ApiError> {
        let max_in = self.engine.limits().max_in_list;
        let filter = parse_filter(&binding, &request::filters(data)?, request::query(data)?, max_in)?;
        let order = Ordering::parse(&binding, data.get("order"))?;
        let key = if request::flag(data, "subscribe", true)? {
            Some(self.reserve(event, None)?)
        } else {
            None
        };
        let spec = QuerySpec { binding, filter, order, shape };
        Ok(Work::Query { spec: Arc::new(spec), key })
    }

    /// Reserves the subscription of `event` (for `retrieve`, of its row) against
    /// `max_subscriptions`; replacing one is free.
    fn reserve(&self, event: &EventName, pk: Option<i64>) -> Result<SubKey, ApiError> {
        let key = SubKey { stream: event.stream().to_owned(), event: event.to_string(), pk };
        let max = self.engine.limits().max_subscriptions;
        let mut subs = self.conn.subs.lock().unwrap_or_else(|p| p.into_inner());
        if !subs.contains(&key) && subs.len() >= max {
            return Err(ApiError::new(ErrorCode::LimitExceeded, format!("at most {max} subscriptions per connection")));
        }
        subs.insert(key.clone());
        Ok(key)
    }
}

fn unknown_action(event: &EventName) -> ApiError {
    ApiError::new(ErrorCode::UnknownEvent, format!("{} has no action {}", event.stream(), event.action()))
}
