/** The LSN helpers: WAL positions ("16/B374D848") as comparable bigints, and back. */
import { expect } from 'chai';
import { bigIntToLsn, compareLsn, lsnToBigInt } from '../../shared/replication/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';

const highest = (1n << 64n) - 1n;

describe('LSN helpers', () => {
  describe('lsnToBigInt', () => {
    it('reads the high and low 32-bit halves as hex', () => {
      expect(lsnToBigInt('0/0')).to.equal(0n);
      expect(lsnToBigInt('0/1')).to.equal(1n);
      expect(lsnToBigInt('1/0')).to.equal(0x1_0000_0000n);
      expect(lsnToBigInt('16/B374D848')).to.equal(0x16_B374_D848n);
      expect(lsnToBigInt('FFFFFFFF/FFFFFFFF')).to.equal(highest);
    });

    it('takes lower case and leading zeros', () => {
      expect(lsnToBigInt('16/b374d848')).to.equal(0x16_B374_D848n);
      expect(lsnToBigInt('00000016/0000000A')).to.equal(0x16_0000_000An);
    });

    for (const malformed of ['', '0', '/0', '0/', '0/0/0', ' 0/0', '0/0 ', 'G/0', '0/-1', '-1/0', '0x1/0', '1.5/0', '123456789/0', '0/123456789']) {
      it(`refuses ${JSON.stringify(malformed)}`, () => {
        expect(() => lsnToBigInt(malformed)).to.throw(BadRequestError, /not an LSN/);
      });
    }
  });

  describe('bigIntToLsn', () => {
    it('writes both halves in upper-case hex without padding', () => {
      expect(bigIntToLsn(0n)).to.equal('0/0');
      expect(bigIntToLsn(0xFFFF_FFFFn)).to.equal('0/FFFFFFFF');
      expect(bigIntToLsn(0x1_0000_0000n)).to.equal('1/0');
      expect(bigIntToLsn(0x16_B374_D848n)).to.equal('16/B374D848');
      expect(bigIntToLsn(highest)).to.equal('FFFFFFFF/FFFFFFFF');
    });

    it('round-trips across the 32-bit boundary and at the ends', () => {
      for (const value of [0n, 1n, 0xFFFF_FFFEn, 0xFFFF_FFFFn, 0x1_0000_0000n, 0x1_0000_0001n, 0xABCD_0123_4567n, highest - 1n, highest]) {
        expect(lsnToBigInt(bigIntToLsn(value)), bigIntToLsn(value)).to.equal(value);
      }
    });
  });

  describe('compareLsn', () => {
    it('compares positions as numbers, not as strings', () => {
      expect(compareLsn('0/9', '0/10')).to.equal(-1);
      expect(compareLsn('0/A', '0/9')).to.equal(1);
      expect(compareLsn('1/0', '0/FFFFFFFF')).to.equal(1);
      expect(compareLsn('0/FFFFFFFF', '1/0')).to.equal(-1);
      expect(compareLsn('2/1', '10/0')).to.equal(-1);
    });

    it('finds equal what differs only in case or leading zeros', () => {
      expect(compareLsn('16/B374D848', '16/b374d848')).to.equal(0);
      expect(compareLsn('0/0', '00000000/00000000')).to.equal(0);
      expect(compareLsn('FFFFFFFF/FFFFFFFF', 'ffffffff/ffffffff')).to.equal(0);
    });

    it('refuses a malformed side', () => {
      expect(() => compareLsn('0/0', 'nope')).to.throw(BadRequestError, /not an LSN/);
    });
  });
});
