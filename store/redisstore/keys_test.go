package redisstore

import (
	"strings"
	"testing"
)

// hashTag is the part of key Redis Cluster hashes to pick its slot: the
// text between the first "{" and the next "}" when it is not empty, else the
// whole key.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

func TestKeysUsedTogetherShareAHashSlot(t *testing.T) {
	odd := []string{"plain", "", "with}brace", "with{brace", "{x}", "a}b{c", "ünïcode", "sp ace:colon"}
	for _, prefix := range []string{"authgate:", "", "{app}:", "odd{"} {
		s := &Store{prefix: prefix}
		for _, id := range odd {
			groups := map[string][]string{
				"user script keys": {s.userKey(id), s.idsKey(), s.nameKey(id), s.nameKey("x" + id), s.emailKey(id), s.emailKey(""), s.identitiesKey(), s.userIdentitiesKey(id), s.secondFactorsKey(id)},
				"session keys":     {s.sessionKey(id), s.spentKey(id)},
			}
			for name, keys := range groups {
				for _, k := range keys[1:] {
					if hashTag(k) != hashTag(keys[0]) {
						t.Errorf("prefix %q id %q: %s %q and %q are in different slots (tags %q, %q)",
							prefix, id, name, keys[0], k, hashTag(keys[0]), hashTag(k))
					}
				}
			}
		}
	}
}

func TestSessionsOfDifferentIDsSpreadOverSlots(t *testing.T) {
	s := &Store{prefix: "authgate:"}
	if hashTag(s.sessionKey("a")) == hashTag(s.sessionKey("b")) {
		t.Fatal("all sessions share one hash tag, so one cluster node would hold them all")
	}
}
