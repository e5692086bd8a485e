import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initials, inkOn } from './people.ts';

/** WCAG contrast ratio of two `#rrggbb` colours. */
function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const [r, g, b2] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2).padEnd(2, hex.slice(i, i + 1)), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b2!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

const expand = (ink: string) => (ink.length === 4 ? `#${ink[1]}${ink[1]}${ink[2]}${ink[2]}${ink[3]}${ink[3]}` : ink);

describe('inkOn', () => {
  it('picks dark text on light colours and white on dark ones', () => {
    assert.equal(inkOn('#ffe119'), '#000');
    assert.equal(inkOn('#42d4f4'), '#000');
    assert.equal(inkOn('#000075'), '#fff');
    assert.equal(inkOn('#800000'), '#fff');
  });

  it('gives AA contrast (4.5:1) for small text on every colour of a spread of hues', () => {
    for (const colour of [
      '#e6194b',
      '#3cb44b',
      '#ffe119',
      '#4363d8',
      '#f58231',
      '#911eb4',
      '#42d4f4',
      '#f032e6',
      '#bfef45',
      '#469990',
      '#9a6324',
      '#808000',
    ]) {
      const ratio = contrast(colour, expand(inkOn(colour)));
      assert.ok(ratio >= 4.5, `${colour}: ${ratio.toFixed(2)}`);
    }
  });
});

describe('initials', () => {
  it('takes the first and last names, or the start of an address', () => {
    assert.equal(initials('Bea Editor'), 'BE');
    assert.equal(initials('Ada Lovelace King'), 'AK');
    assert.equal(initials('owner@example.org'), 'OW');
    assert.equal(initials('jane.doe@example.org'), 'JD');
    assert.equal(initials('   '), '?');
  });
});
