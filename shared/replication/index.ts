export { bigIntToLsn, compareLsn, lsnToBigInt, type Lsn } from './lsn.ts';
