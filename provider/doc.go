// Package provider signs people in through external identity providers:
// OpenID Connect providers (discovery, ID token checked with go-oidc) and
// plain OAuth2 providers with a user-info endpoint (GitHub and the like).
// It owns the whole provider sign-in: the authorization request with its
// state, PKCE (S256) verifier and OIDC nonce; the callback's checks; the
// mapping of the provider's claims; and the decision which local user the
// sign-in is, linking or creating one.
//
// It knows neither Fiber nor HTML. Package gateway serves its two routes
// (authorize and callback), turns a Result into an ordinary authgate
// session (the same token pair, cookies, revocation and rate limits as a
// password sign-in) and maps an *Error to a problem document or a page.
//
// What it guarantees:
//   - a flow is single-use and bound to the browser that started it: the
//     state names a record in the store that the callback consumes
//     atomically, and the record holds the hash of a cookie value the
//     starting browser got, so a callback replayed, or completed in another
//     browser (login CSRF), or at another provider's callback (mix-up), is
//     refused;
//   - an ID token must carry this client as audience, the provider as
//     issuer, an unexpired exp and the flow's nonce;
//   - a provider account is matched to a local user by its stable subject,
//     never by an email alone: an email links to an existing user only when
//     the provider says it is verified, linking by email is enabled for the
//     provider, and the local user's own email is verified (otherwise
//     whoever registered the address first, without proving it, would be
//     handed the account);
//   - users are created only where sign-up is allowed for the provider,
//     without a password (password sign-in fails for them until one is
//     set), and with an email only when the provider verified it.
//
// What it refuses: unknown providers, scopes outside the provider's
// allowed_scopes, a callback without a live flow, an inactive local user.
package provider
