#pragma once

// The one page GET / serves: a query box over POST /search (ranked results with scores) and a tab
// that scores two sentences with POST /similarity. Self-contained (inline CSS and JS, no other
// request than the API's), served without authentication (it holds no data; the API calls it makes
// send the key typed into its API key field, kept in the browser's localStorage). Result text is
// set with textContent, never parsed as HTML.
//
// The URL drives it as a user would: /?q=TEXT[&k=N] fills the query box and submits it as Enter
// does; /?a=TEXT&b=TEXT&tab=similarity fills the two sentences and scores them (also accepted in
// the fragment, #q=...). Submitting a search puts its query back into the URL, so it can be shared.
#include <string>

namespace sembed::serve {

// The HTML of the page (UTF-8).
const std::string& web_page();

}  // namespace sembed::serve
