//! The one fake [`TokenSource`], for the unit tests and the fuzz targets (compiled only for
//! those: `cfg(test)` or `cfg(fuzzing)`, which cargo-fuzz sets). It never touches the network and
//! records every target it was asked for.

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::ecr::{FetchError, FetchRequest, Target, Token, TokenSource};
use crate::registry::Registry;
use crate::secret::Secret;

/// The password [`FakeSource::new`] hands out.
pub const FAKE_PASSWORD: &str = "fuzz-password-from-the-fake-source";

/// One scripted answer: `Ok((password, expires_at))` or the error.
pub type Scripted = Result<(String, u64), FetchError>;

enum Answers {
    /// The same answer every time: `Some(lifetime)`, a token expiring `lifetime` seconds after
    /// `now` (`None`: no expiry given); `None`, every fetch fails.
    Always(Option<Option<i64>>),
    /// One answer per fetch, in order; a fetch past the end is a test's mistake (a panic).
    Script(RefCell<VecDeque<Scripted>>),
}

/// A [`TokenSource`] that never touches the network and records what it was asked for.
pub struct FakeSource {
    answers: Answers,
    pub now: u64,
    /// Every registry a fetch was asked for.
    pub asked: RefCell<Vec<Registry>>,
    /// The name of every target a fetch was asked for (registries and default registries).
    pub targets: RefCell<Vec<String>>,
}

impl FakeSource {
    /// The same answer every time (see [`Answers::Always`]), [`FAKE_PASSWORD`] as the password.
    pub fn new(answer: Option<Option<i64>>, now: u64) -> FakeSource {
        FakeSource::with(Answers::Always(answer), now)
    }

    /// `answers` in order, one per fetch.
    pub fn scripted(answers: Vec<Scripted>) -> FakeSource {
        FakeSource::with(Answers::Script(RefCell::new(answers.into())), 0)
    }

    fn with(answers: Answers, now: u64) -> FakeSource {
        FakeSource {
            answers,
            now,
            asked: RefCell::new(Vec::new()),
            targets: RefCell::new(Vec::new()),
        }
    }

    /// How many fetches were asked for.
    pub fn calls(&self) -> usize {
        self.targets.borrow().len()
    }
}

impl TokenSource for FakeSource {
    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Token, FetchError> {
        if let Target::Registry(registry) = request.target {
            self.asked.borrow_mut().push(registry.clone());
        }
        self.targets.borrow_mut().push(request.target.name());
        let answer = match &self.answers {
            Answers::Always(Some(lifetime)) => Ok((
                FAKE_PASSWORD.to_owned(),
                lifetime.map(|l| self.now.saturating_add_signed(l)),
            )),
            Answers::Always(None) => Err(FetchError::Network("the fuzz fake never answers".into())),
            Answers::Script(script) => script
                .borrow_mut()
                .pop_front()
                .expect("a fetch the test scripted")
                .map(|(password, expires_at)| (password, Some(expires_at))),
        };
        answer.map(|(password, expires_at)| Token {
            password: Secret::new(password),
            expires_at,
            proxy_endpoint: None,
            warnings: Vec::new(),
        })
    }
}
