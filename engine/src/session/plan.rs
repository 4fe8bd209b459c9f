//! Checking a request and planning its work, per action (docs/protocol.md section 2), through the
//! binding's permission pipeline (section 4): may this user run this action, over which rows,
//! seeing and writing which fields.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::job::{Job, Work, Write};
use super::request;
use super::{Session, Step};
use crate::binding::ModelBinding;
use crate::expand::Relations;
use crate::filter::{
    check_filter_size, parse_filter_related, Filter, Ordering, Reader, Relations as FilterRelations,
};
use crate::key::Key;
use crate::outbound::SubKey;
use crate::permission::View;
use crate::protocol::{ApiError, ErrorCode, EventName, Inbound};
use crate::query::{QuerySpec, Shape};
use crate::validate::{validate_write_as, WriteMode};

impl Session {
    pub(super) fn plan(&mut self, inbound: Inbound) -> Result<Step, ApiError> {
        let Inbound { event, data } = inbound;
        if event.is_batch() {
            return self.plan_batch(event, data);
        }
        // Reserved, whatever the bindings: no stream of the application is named `auth`
        // alone (a model's stream is `<app>.<Model>`).
        if event.stream() == super::refresh::STREAM && event.action() == super::refresh::ACTION {
            return self.plan_refresh(event, &data);
        }
        let registry = self.engine.registry();
        let stream = event.stream();
        if !registry.has_stream(stream) {
            return Err(ApiError::new(
                ErrorCode::UnknownEvent,
                format!("no stream {stream}"),
            ));
        }
        // Unsubscribing only ever releases what the connection holds.
        if event.action() != "unsubscribe" {
            self.check(stream, event.action(), &data)?;
        }
        let work = if let Some(handler) = registry.handler(stream, event.action()) {
            Work::Custom { handler, data }
        } else if let Some(binding) = registry.get(stream).cloned() {
            self.model_work(&event, binding, &data)?
        } else if event.action() == "unsubscribe" {
            Work::Unsubscribe
        } else if event.action() == "subscribe" {
            // A custom stream has no rows: subscribing joins its group (docs/protocol.md section 5),
            // which is how a reconnecting client gets its dispatches back.
            Work::Joined
        } else {
            return Err(unknown_action(&event));
        };
        if event.action() == "unsubscribe" {
            if event.hash().is_none() {
                self.leave(stream);
            }
        } else {
            self.join(stream);
        }
        Ok(Step::Run(Box::new(Job::new(
            self.engine.clone(),
            self.conn.clone(),
            event,
            work,
            self.system,
        ))))
    }

    /// An `auth.refresh`: only a WebSocket has a credential to refresh.
    fn plan_refresh(&self, event: EventName, data: &Map<String, Value>) -> Result<Step, ApiError> {
        let Some(identity) = self.identity.clone() else {
            return Err(ApiError::bad_request(
                "auth.refresh refreshes a WebSocket's credential; an HTTP request carries its own",
            ));
        };
        let token = super::refresh::token(data, self.engine.limits().max_token_bytes)?;
        Ok(Step::Run(Box::new(Job::new(
            self.engine.clone(),
            self.conn.clone(),
            event,
            Work::Refresh { identity, token },
            self.system,
        ))))
    }

    /// The binding's permission decides whether the action may run at all.
    pub(super) fn check(
        &self,
        stream: &str,
        action: &str,
        data: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let Some(permission) = self.engine.registry().permission(stream) else {
            return Ok(());
        };
        let caller = self.caller();
        if caller.allows(permission, action, data) {
            Ok(())
        } else {
            Err(caller.refusal())
        }
    }

    /// How this connection's filters follow relations: up to `max_relation_depth` of them,
    /// seeing each related binding through `view_of`.
    fn filter_relations<'a>(
        &'a self,
        view_of: &'a crate::filter::ViewOf<'a>,
    ) -> FilterRelations<'a> {
        FilterRelations {
            registry: self.engine.registry(),
            max_depth: self.engine.limits().max_relation_depth,
            reader: Reader::Client(view_of),
            user: self.user(),
        }
    }

    /// What this user sees of a binding a filter's relation leads to, for the request's
    /// `action`: `None` when the binding's permission refuses the action, so its rows cannot
    /// be probed through a relation either.
    fn related_view(
        &self,
        target: &ModelBinding,
        action: &str,
    ) -> Result<Option<Arc<View>>, ApiError> {
        if !self
            .caller()
            .allows(target.permission_ref(), action, &Map::new())
        {
            return Ok(None);
        }
        self.view(target, action).map(Some)
    }

    pub(super) fn view(&self, binding: &ModelBinding, action: &str) -> Result<Arc<View>, ApiError> {
        self.caller().view(self.engine.registry(), binding, action)
    }

    fn model_work(
        &self,
        event: &EventName,
        binding: Arc<ModelBinding>,
        data: &Map<String, Value>,
    ) -> Result<Work, ApiError> {
        let limits = self.engine.limits();
        let action = event.action();
        Ok(match action {
            "retrieve" => {
                let pk = request::pk(&binding, data)?;
                let view = self.view(&binding, action)?;
                let relations = self.relations(&binding, &view, data)?;
                let subscribe = request::flag(data, "subscribe", true)?;
                if !relations.is_empty() {
                    // A row shown with its relations is re-read when they change, as a live
                    // query is.
                    let spec = QuerySpec {
                        filter: Filter::pk(&binding, &pk).and(view.scope().clone()),
                        order: Ordering::by_pk(&binding),
                        shape: Shape::Row { pk: pk.clone() },
                        binding,
                        view,
                        relations,
                    };
                    let key = match subscribe {
                        true => Some(self.reserve_live(event, Some(pk), &spec.signature())?),
                        false => None,
                    };
                    return Ok(Work::Query {
                        spec: Arc::new(spec),
                        key,
                    });
                }
                let key = if subscribe {
                    Some(self.reserve(event, Some(pk.clone()))?)
                } else {
                    None
                };
                Work::Retrieve {
                    binding,
                    pk,
                    key,
                    view,
                }
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
            "list" => self.query_work(
                event,
                binding,
                data,
                Shape::List {
                    limit: limits.max_list_size,
                },
            )?,
            "subscribe" => {
                let view = self.view(&binding, action)?;
                let filter = match request::opt_pk(&binding, data)? {
                    Some(pk) => Filter::pk(&binding, &pk),
                    None => {
                        let visible = |f: &str| view.can_see(f);
                        let filters = request::filters(data)?;
                        check_filter_size(&filters, None, limits.max_filter_bytes)?;
                        let view_of = |target: &ModelBinding| self.related_view(target, action);
                        parse_filter_related(
                            &binding,
                            &filters,
                            None,
                            limits.max_in_list,
                            limits.max_filter_depth,
                            &visible,
                            &self.filter_relations(&view_of),
                        )?
                    }
                };
                let filter = filter.and(view.scope().clone());
                let relations = self.relations(&binding, &view, data)?;
                Work::Feed {
                    key: self.reserve(event, None)?,
                    filter,
                    view,
                    relations,
                }
            }
            "create" | "update" | "save" | "delete" => {
                let view = self.view(&binding, action)?;
                let (data, expect) = crate::version::split(&binding, data)?;
                // A write with a version to check is a plain one: the row must exist. Asking
                // for an upsert besides (which may create) contradicts it.
                let upsert = match expect {
                    None => self.upsert_of(&binding, action, &data)?,
                    Some(_) if super::upsert::asks_upsert(&data) => {
                        return Err(ApiError::bad_request(
                            "if_version does not apply to an upsert",
                        ))
                    }
                    Some(_) => None,
                };
                let write = match upsert {
                    Some(upsert) => upsert,
                    None => {
                        let data = super::upsert::fields_of(action, &data);
                        self.write_of(&binding, action, &data, &view)?
                    }
                };
                if expect.is_some() && write.pk().is_none() {
                    return Err(crate::version::not_on_create());
                }
                Work::Write {
                    binding,
                    write,
                    view,
                    expect,
                }
            }
            "form" => {
                let view = self.view(&binding, action)?;
                let pk = request::opt_pk(&binding, data)?;
                let submit = match data.get("submit") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(values)) => {
                        // A submit is a create or an update, and must be allowed as one.
                        let as_action = if pk.is_some() { "update" } else { "create" };
                        let mut values = values.clone();
                        if let Some(pk) = &pk {
                            values.insert("id".to_owned(), pk.to_json());
                        }
                        self.check(binding.stream(), as_action, &values)?;
                        Some(self.write_of(&binding, as_action, &values, &view)?)
                    }
                    Some(_) => return Err(ApiError::bad_request("submit must be an object")),
                };
                let expect = crate::version::expected(&binding, data)?;
                if expect.is_some() && (submit.is_none() || pk.is_none()) {
                    return Err(ApiError::bad_request(
                        "if_version goes with a submit of an existing row",
                    ));
                }
                Work::Form {
                    binding,
                    pk,
                    submit,
                    view,
                    expect,
                }
            }
            "unsubscribe" => Work::Unsubscribe,
            _ => return Err(unknown_action(event)),
        })
    }

    /// Validates a write as the user may make it. An edit (`update`, or `form` with an id) is
    /// partial; `save` with an id replaces every writable field.
    pub(super) fn write_of(
        &self,
        binding: &ModelBinding,
        action: &str,
        data: &Map<String, Value>,
        view: &View,
    ) -> Result<Write, ApiError> {
        let pk = request::opt_pk(binding, data)?;
        let mode = match (action, &pk) {
            ("delete", _) => {
                return Ok(Write::Delete {
                    pk: request::pk(binding, data)?,
                })
            }
            ("update", None) => return Err(ApiError::bad_request("id is required")),
            ("update", Some(_)) => WriteMode::Update,
            ("save", Some(_)) => WriteMode::Replace,
            _ => WriteMode::Create,
        };
        let mut values = validate_write_as(binding, data, mode, view)?;
        self.caller().prepare_write(binding, action, &mut values);
        match pk {
            Some(pk) if mode != WriteMode::Create => Ok(Write::Update { pk, values }),
            // Whether a new row lands inside the writer's scope is checked by the job, after
            // the binding's before-write hooks had their say on the values.
            _ => Ok(Write::Create { values }),
        }
    }

    /// A `search` or `list`: live unless the request says `"subscribe": false`.
    fn query_work(
        &self,
        event: &EventName,
        binding: Arc<ModelBinding>,
        data: &Map<String, Value>,
        shape: Shape,
    ) -> Result<Work, ApiError> {
        let view = self.view(&binding, event.action())?;
        let visible = |f: &str| view.can_see(f);
        let limits = self.engine.limits();
        let (max_in, max_depth) = (limits.max_in_list, limits.max_filter_depth);
        let (filters, query) = (request::filters(data)?, request::query(data)?);
        check_filter_size(&filters, query, limits.max_filter_bytes)?;
        let view_of = |target: &ModelBinding| self.related_view(target, event.action());
        let relations = self.filter_relations(&view_of);
        let filter = parse_filter_related(
            &binding, &filters, query, max_in, max_depth, &visible, &relations,
        )?;
        let order = Ordering::parse_related(&binding, data.get("order"), &visible, &relations)?;
        let filter = filter.and(view.scope().clone());
        let relations = self.relations(&binding, &view, data)?;
        let spec = QuerySpec {
            binding,
            filter,
            order,
            shape,
            view,
            relations,
        };
        let key = if request::flag(data, "subscribe", true)? {
            Some(self.reserve_live(event, None, &spec.signature())?)
        } else {
            None
        };
        Ok(Work::Query {
            spec: Arc::new(spec),
            key,
        })
    }

    /// Reserves the subscription of `event` (for `retrieve`, of its row) against
    /// `max_subscriptions`; replacing one is free.
    fn reserve(&self, event: &EventName, pk: Option<Key>) -> Result<SubKey, ApiError> {
        let key = SubKey {
            stream: event.stream().to_owned(),
            event: event.to_string(),
            pk,
        };
        let max = self.engine.limits().max_subscriptions;
        let mut subs = self.conn.subs.lock().unwrap_or_else(|p| p.into_inner());
        if !subs.contains(&key) && subs.len() >= max {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!("at most {max} subscriptions per connection"),
            ));
        }
        subs.insert(key.clone());
        Ok(key)
    }
}

impl Session {
    /// What `expand` and `include` ask `binding`'s rows to show, for a caller with `view`.
    fn relations(
        &self,
        binding: &Arc<ModelBinding>,
        view: &View,
        data: &Map<String, Value>,
    ) -> Result<Relations, ApiError> {
        let engine = &self.engine;
        crate::expand::parse(
            engine.registry(),
            binding,
            view,
            self.caller(),
            data,
            engine.limits(),
        )
    }

    /// Reserves a live query's subscription (for a row shown with relations, keyed by its
    /// `pk` too): its slot against `max_subscriptions`, and its query against
    /// `max_live_queries` and `max_live_queries_per_user`.
    fn reserve_live(
        &self,
        event: &EventName,
        pk: Option<Key>,
        signature: &str,
    ) -> Result<SubKey, ApiError> {
        let limits = self.engine.limits();
        let key = SubKey {
            stream: event.stream().to_owned(),
            event: event.to_string(),
            pk: pk.clone(),
        };
        let fresh = !self
            .conn
            .subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key);
        self.conn.live.reserve(
            &key,
            signature,
            limits.max_live_queries,
            limits.max_live_queries_per_user,
        )?;
        self.reserve(event, pk).inspect_err(|_| {
            if fresh {
                self.conn.live.release(&key);
            }
        })
    }
}

fn unknown_action(event: &EventName) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownEvent,
        format!("{} has no action {}", event.stream(), event.action()),
    )
}
