package ghsim

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// paginate picks the page of n items the request asks for (GitHub's
// defaults: 30 per page, at most 100) and sets GitHub's Link header.
func (s *Sim) paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	last := max(1, (n+per-1)/per)
	link := func(p int, rel string) string {
		u, _ := url.Parse(s.URL() + r.URL.Path)
		lq := r.URL.Query()
		lq.Set("per_page", strconv.Itoa(per))
		lq.Set("page", strconv.Itoa(p))
		u.RawQuery = lq.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u, rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((page-1)*per, n)
	return lo, min(lo+per, n)
}
