/** The reader's one map from errors to application/problem+json statuses. */
import { expect } from 'chai';
import { BadRequestError, ConfigError, NotFoundError, VersionGoneError } from '../../shared/errors/index.ts';
import { NotMaterializedError } from '../../shared/materialized/index.ts';
import { AccessControl, problemFor } from '../../services/reader/index.ts';

describe('reader: problem responses', () => {
  it('maps project errors by code: 400, 404, 410', () => {
    expect(problemFor(new BadRequestError('x'))).to.include({ status: 400, title: 'Bad Request', detail: 'x' });
    expect(problemFor(new ConfigError('V', 'bad'))).to.include({ status: 400 });
    expect(problemFor(new NotFoundError('gone'))).to.include({ status: 404, type: 'https://deltameta.dev/problems/not-found' });
    expect(problemFor(new VersionGoneError('t', 1, 5))).to.include({ status: 410, type: 'https://deltameta.dev/problems/version-gone' });
  });

  it('maps a missing or foreign token to 401 and 403', () => {
    const access = AccessControl.fromGrants([{ name: 'sales', sha256: '0'.repeat(64), tablePrefixes: ['sales_'] }]);
    let unauthorized: unknown;
    try {
      access.authenticate(undefined);
    } catch (error) {
      unauthorized = error;
    }
    expect(problemFor(unauthorized)).to.include({ status: 401 });
    let forbidden: unknown;
    try {
      access.authorize({ name: 'sales', tablePrefixes: ['sales_'] }, 'hr_people');
    } catch (error) {
      forbidden = error;
    }
    expect(problemFor(forbidden)).to.include({ status: 403 });
  });

  it('never answers an internal "not materialized yet" as 404, whatever its code', () => {
    const error = new NotMaterializedError('t', 3, { minVersion: 5, mvVersion: 9 });
    expect(problemFor(error).status).to.equal(500);
    // Decided by class: the code it had before NOT_MATERIALIZED existed must not turn it into a 404.
    Object.defineProperty(error, 'code', { value: 'NOT_FOUND' });
    const problem = problemFor(error);
    expect(problem.status).to.equal(500);
    expect(problem.detail).to.not.contain('materialized');
  });

  it('hides anything else behind a 500 without its message', () => {
    expect(problemFor(new Error('secret connection string'))).to.deep.equal({
      type: 'https://deltameta.dev/problems/internal', title: 'Internal Server Error', status: 500, detail: 'the reader failed to answer; see its log',
    });
  });
});
