/**
 * Default label sets for classification: document types and sensitivity levels. They are
 * configuration defaults, not code: a team can replace either set (names, descriptions,
 * prompts, keywords) and the classifier works the same way on whatever it is given.
 *
 * Descriptions and prompts are written for zero-shot matching over sentence embeddings
 * (all-MiniLM-L6-v2): each label is the mean embedding of its description and prompts, so
 * the prompts read like the documents themselves (headings, typical lines) rather than like
 * dictionary definitions, which embed far from real documents.
 *
 * Keywords are markings and headings ("INVOICE", "Internal use only"), never common words:
 * "paid" or "public" occur in every kind of document and only add noise.
 *
 * The descriptions were tuned on the smoke set in `classify.fixtures.ts`;
 * `classify.stage.test.ts` holds them to an accuracy floor there.
 */
import type { LabelDefinition } from '@quire/kernel';

/** Name of the document type that wins when no other type fits well enough. */
export const OTHER_TYPE = 'other';

/** Default document types. */
export const DEFAULT_DOCUMENT_TYPES: readonly LabelDefinition[] = [
  {
    name: 'invoice',
    description: 'An invoice: a bill from a seller asking the buyer to pay for goods or services delivered.',
    prompts: [
      'Invoice number, invoice date, bill to, amount due, payment terms, due date.',
      'Tax invoice for services rendered. Subtotal, VAT, total due. Please pay within 30 days.',
      'Please remit payment to the bank account below, quoting the invoice number.',
    ],
    keywords: ['invoice', 'tax invoice', 'amount due', 'balance due', 'bill to'],
  },
  {
    name: 'purchase order',
    description: 'A purchase order: a buyer orders goods from a supplier, listing items, quantities, prices and delivery.',
    prompts: [
      'Purchase order number, order date, vendor, ship to, requested delivery date.',
      'Please supply the following items. Item, quantity, unit cost, total. Authorised by the buyer.',
      'Quote the PO number on all invoices and delivery notes.',
    ],
    keywords: ['purchase order', 'po number', 'po no', 'ship to', 'order no'],
  },
  {
    name: 'receipt',
    description: 'A receipt: proof that a payment was received, from a shop, restaurant or payee.',
    prompts: [
      'Receipt. Items, subtotal, tax, total, cash, change. Thank you for shopping with us.',
      'Paid by card. Visa contactless approved. Please keep this receipt for your records.',
      'Received with thanks the sum of, payment received.',
    ],
    keywords: ['receipt', 'thank you for shopping', 'change due', 'cash tendered'],
  },
  {
    name: 'contract',
    description: 'A contract: a legal agreement between parties setting out obligations, terms and signatures.',
    prompts: [
      'This agreement is made between the parties. Terms and conditions, term and termination, governing law.',
      'The parties agree as follows. Obligations, confidentiality, liability, indemnity.',
      'In witness whereof the parties have signed this agreement on the date first written above.',
    ],
    keywords: ['agreement', 'hereinafter', 'whereas', 'in witness whereof', 'governing law'],
  },
  {
    name: 'letter',
    description: 'A letter: correspondence addressed to a person or organisation, with a greeting and a sign-off.',
    prompts: [
      'Dear Sir or Madam, I am writing to you regarding. Yours sincerely.',
      'Thank you for your letter. Please do not hesitate to contact me. Kind regards.',
      'Dear Mr Smith, I am writing to confirm that we received your delivery and to thank you for your help. Yours sincerely, Manager.',
      'Dear Sir, I am writing to complain about a faulty product and to ask for a refund. I look forward to hearing from you. Yours faithfully.',
    ],
    keywords: ['dear', 'yours sincerely', 'yours faithfully', 'kind regards'],
  },
  {
    name: 'report',
    description: 'A report: an analysis of findings, results or status, with a summary and recommendations.',
    prompts: [
      'Executive summary. Key findings, analysis, results and recommendations.',
      'Quarterly report on performance: figures compared with the previous period, conclusions.',
      'Status report: progress, risks, issues and next steps.',
      'Incident report: what happened, when and where, the cause, and the corrective actions taken.',
    ],
    keywords: ['executive summary', 'findings', 'recommendations', 'report'],
  },
  {
    name: 'form',
    description: 'A form: a template with fields and blanks to fill in, tick boxes and a signature line.',
    prompts: [
      'Please complete all fields in block capitals. Name, address, date of birth, signature.',
      'Application form. Tick the boxes that apply. For office use only.',
      'Claim form: fill in the date, description and amount on each line, then sign. Claimant signature, approver signature.',
    ],
    keywords: ['form', 'please complete', 'block capitals', 'tick', 'for office use only'],
  },
  {
    name: OTHER_TYPE,
    description: 'Text that is not a business document: a story, news, a recipe, notes or unrelated content.',
  },
];

/**
 * Default sensitivity levels, in ascending order of harm if disclosed. The order follows the
 * common four-level scheme where CONFIDENTIAL is the most protected; teams that use
 * RESTRICTED as the top level can swap the descriptions.
 */
export const DEFAULT_SENSITIVITIES: readonly LabelDefinition[] = [
  {
    name: 'PUBLIC',
    description: 'Public information approved for release to anyone: press releases, marketing, published material.',
    prompts: [
      'For immediate release. Press release announcing a new product to customers and the media.',
      'Published on our website. Brochure, public announcement, frequently asked questions.',
    ],
    keywords: ['for immediate release', 'press release', 'approved for public release'],
  },
  {
    name: 'INTERNAL',
    description: 'Internal information for employees only: routine memos, procedures, meeting notes.',
    prompts: [
      'Internal memo to all staff about office procedures, schedules and team news.',
      'Meeting notes and action items for the team. Not for distribution outside the company.',
    ],
    keywords: ['internal use only', 'for internal use', 'internal only', 'all staff'],
  },
  {
    name: 'RESTRICTED',
    description: 'Restricted business information for named teams only: prices, contracts, customer and supplier details.',
    prompts: [
      'Restricted to the finance team: invoices, payments, pricing and customer account details.',
      'Commercial terms, supplier contracts and order figures shared on a need-to-know basis.',
    ],
    keywords: ['restricted', 'need to know', 'limited distribution'],
  },
  {
    name: 'CONFIDENTIAL',
    description:
      'Confidential information whose disclosure would cause serious harm: personal data, salaries, legal and strategic secrets.',
    prompts: [
      'Strictly confidential: salary, bank account, national insurance number, medical records.',
      'Confidential board discussion of a proposed acquisition, legal advice and trade secrets.',
      'Passwords, credentials and private keys.',
    ],
    keywords: ['confidential', 'strictly confidential', 'privileged', 'do not disclose'],
  },
];
