import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tokensOf } from '../../src/stores/mongodb/searchIndex.js';
import { searchTerms } from '../../src/stores/searchIndexRules.js';

describe('search index text rules', () => {
  it('keeps the words of a query of three characters or more, punctuation turned to spaces', () => {
    expect(searchTerms(`What's "my" (favourite) {colour}? [a] b:c ^~!@#$%& e-mail ok`)).toEqual(['What', 'favourite', 'colour', 'e-mail']);
    expect(searchTerms('  ')).toEqual([]);
  });

  it('tokenises text for MongoDB as SQLite FTS5 does (unicode61, diacritics removed)', () => {
    const db = new Database(':memory:');
    db.exec(`CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
             CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');`);
    const samples = [
      'Le café crème est délicieux',
      'Ñandú, Straße & ÆON—naïve coöperation',
      'e-mail: foo@bar.com 3.14 x² 42nd',
      'ﬁne 東京タワー Zürich ÅNGSTRÖM',
      "l'été dernier, à l’hôtel",
    ];
    const insert = db.prepare('INSERT INTO t (rowid, text) VALUES (?, ?)');
    const tokens = db.prepare('SELECT term FROM v WHERE doc = ? ORDER BY "offset"');
    samples.forEach((text, i) => {
      insert.run(i + 1, text);
      const fts5 = (tokens.all(i + 1) as { term: string }[]).map((row) => row.term);
      expect(tokensOf(text)).toEqual(fts5);
    });
    db.close();
  });
});
