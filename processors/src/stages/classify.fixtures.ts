/**
 * A hand-written smoke set for the classifier: short, realistic business texts, three per
 * default document type, plus a few texts per sensitivity level. It is a smoke set, not an
 * evaluation: it is small, it was written by the same people who wrote the label
 * descriptions, and those descriptions were tuned on it. Accuracy on it says the classifier
 * works end to end; it says little about accuracy on real archives.
 */

/** A text with the label a reader would give it. */
export interface SmokeExample {
  readonly text: string;
  readonly label: string;
}

/** Three texts per default document type (invoice … other). */
export const TYPE_SMOKE_SET: readonly SmokeExample[] = [
  {
    label: 'invoice',
    text: `INVOICE
Acme Office Supplies Ltd, 12 Market Street, Leeds LS1 4AB
Invoice No: INV-2024-0183   Invoice Date: 14/03/2024
Bill To: Northwind Traders, 8 Canal Road, York
Description            Qty   Unit Price   Amount
A4 copier paper (box)   10     24.00      240.00
Toner cartridge 85A      2     61.50      123.00
Subtotal 363.00  VAT 20% 72.60  Total Due £435.60
Payment terms: 30 days. Barclays, sort code 20-45-77, account 40308669.`,
  },
  {
    label: 'invoice',
    text: `Tax Invoice # 2291
From: Harbour Consulting LLC, 410 Pine St, Seattle WA
To: Redwood Analytics Inc.
Professional services rendered, March 2024: 32 hours data migration at $150/hr.
Amount due: USD 4,800.00. Due date: April 30, 2024.
Please remit by wire transfer and reference the invoice number. Late payments incur 1.5% monthly interest.`,
  },
  {
    label: 'invoice',
    text: `Bright Web Studio
Invoice 0047 - website maintenance retainer
Billed to: Kline & Co Solicitors
Period: 1-31 January 2024
Monthly retainer .......... 650.00
Extra design hours (3) .... 180.00
Balance due: EUR 830.00
Payable within 14 days to IBAN DE89 3704 0044 0532 0130 00. Thank you for your business.`,
  },
  {
    label: 'purchase order',
    text: `PURCHASE ORDER
PO Number: 4500017732      Date: 2024-02-05
Vendor: Fastenal Industrial Supply
Ship To: Plant 3 Receiving Dock, 900 Industrial Way, Dayton OH
Item        Description                 Qty    Unit Cost   Total
FS-1140     Hex bolt M10 x 40 zinc      2000   0.18        360.00
FS-2209     Nylon lock nut M10          2000   0.07        140.00
Requested delivery: 2024-02-19. Please reference the PO number on all invoices and packing slips.
Authorized by: M. Ortega, Purchasing`,
  },
  {
    label: 'purchase order',
    text: `Order No. 7781
Buyer: City Hospital Pharmacy Department
Supplier: MedLine Distribution Ltd
Please supply and deliver the following to the main stores by 12 March:
- 40 cartons nitrile gloves, size M, at 18.50 per carton
- 15 cases sterile saline 500 ml, at 42.00 per case
Order total: 1,370.00. Terms as per framework agreement. Goods must be accompanied by a delivery note quoting this order number.`,
  },
  {
    label: 'purchase order',
    text: `Purchase order from Greenleaf Cafes to Riverside Roasters
PO 2024-118, issued 3 June 2024
We would like to order 60 kg of house espresso blend (12 x 5 kg bags) at 19.80/kg and 10 kg of decaf at 22.50/kg.
Delivery address: Greenleaf Cafes central kitchen, Unit 4, Mill Lane.
Requested delivery week 24. Invoice to accounts@greenleaf.example quoting the PO number.`,
  },
  {
    label: 'receipt',
    text: `TESCO STORES LTD
Store 2817 Camden
MILK SEMI SKIMMED 2L     1.65
BANANAS LOOSE 0.96kg     0.73
SOURDOUGH LOAF           2.10
CHEDDAR MATURE 400G      3.25
TOTAL                    7.73
VISA CONTACTLESS         7.73
CHANGE DUE               0.00
14/05/2024 17:42  TILL 04  OP 3391
THANK YOU FOR SHOPPING AT TESCO`,
  },
  {
    label: 'receipt',
    text: `Blue Door Coffee
Order #58   Table 6   Server: Ana
2 Flat white        7.00
1 Almond croissant  3.40
Subtotal           10.40
Tax 8.875%          0.92
Total              11.32
Paid: Mastercard ****4421  Auth 093311
Thank you! Please come again.`,
  },
  {
    label: 'receipt',
    text: `RECEIPT No. 0612
Received from: John Smith
The sum of: two hundred and fifty dollars ($250.00)
Being payment for: March rent, Flat 2B, 14 Elm Street
Payment method: cheque no. 100234
Date: 1 March 2024      Received by: L. Brown, landlord`,
  },
  {
    label: 'contract',
    text: `SERVICES AGREEMENT
This Agreement is entered into as of 1 April 2024 between Northwind Traders Ltd ("Client") and Harbour Consulting LLC ("Contractor").
1. Services. Contractor shall provide the data migration services described in Schedule A.
2. Term and Termination. This Agreement continues for twelve months and may be terminated by either party on thirty days' written notice.
3. Fees. Client shall pay the fees set out in Schedule B within thirty days of invoice.
4. Governing Law. This Agreement is governed by the laws of England and Wales.
IN WITNESS WHEREOF the parties have executed this Agreement on the date first written above.`,
  },
  {
    label: 'contract',
    text: `MUTUAL NON-DISCLOSURE AGREEMENT
The parties wish to exchange confidential information for the purpose of evaluating a possible business relationship.
Each party agrees to hold the other party's Confidential Information in strict confidence, to use it only for the Purpose and not to disclose it to any third party without prior written consent.
The obligations in this Agreement survive for three (3) years after its termination.
Signed for and on behalf of Redwood Analytics Inc. ______________  Signed for and on behalf of Bluefin Data GmbH ______________`,
  },
  {
    label: 'contract',
    text: `RESIDENTIAL TENANCY AGREEMENT
Landlord: L. Brown. Tenant: John Smith. Property: Flat 2B, 14 Elm Street.
The Tenant agrees to pay rent of $1,000 per month in advance on the first day of each month. The term of the tenancy is 12 months commencing 1 January 2024.
The Tenant shall keep the premises clean and shall not sublet without the Landlord's written consent. A security deposit of $1,500 is held and returned at the end of the tenancy less any deductions for damage.
Signed by the Landlord and the Tenant.`,
  },
  {
    label: 'letter',
    text: `14 Canal Road
York YO1 7HH
3 May 2024

Dear Ms Patel,

Thank you for your letter of 28 April regarding the delayed delivery of our order. I am pleased to confirm that the goods were received yesterday in good condition.

We look forward to continuing our relationship with your company.

Yours sincerely,
David Clarke
Operations Manager`,
  },
  {
    label: 'letter',
    text: `Dear Hiring Manager,

I am writing to apply for the position of Accounts Assistant advertised on your website. I have three years of experience in accounts payable and hold an AAT qualification. I would welcome the opportunity to discuss how I could contribute to your finance team.

Please find my CV enclosed. Thank you for considering my application.

Kind regards,
Sofia Marin`,
  },
  {
    label: 'letter',
    text: `Customer Services Department
Premier Appliances plc

Dear Sir or Madam,

I am writing to complain about the washing machine I bought from your Leeds store on 2 February. It has broken down twice and your engineer has not been able to repair it. I would like a full refund or a replacement.

I look forward to hearing from you within fourteen days.

Yours faithfully,
Margaret Hughes`,
  },
  {
    label: 'report',
    text: `Quarterly Sales Report - Q3 2023
Executive summary: Revenue grew 12% quarter on quarter to 4.2m, driven by the new subscription tier. Gross margin fell slightly to 61% because of higher hosting costs.
Key findings: EMEA exceeded target by 8%; North America missed target by 3%; churn remained stable at 2.1%.
Recommendations: increase investment in EMEA partner channels and renegotiate the hosting contract before Q1.`,
  },
  {
    label: 'report',
    text: `Incident Report
Date of incident: 11 June 2024. Location: Warehouse B, loading bay 2.
Description: A pallet fell from a forklift while being lifted to the second rack level. No one was injured; stock worth approximately 900 was damaged.
Root cause: the pallet was overloaded and the load was not wrapped.
Corrective actions: refresher training for forklift operators; weight limits posted at each bay. Report prepared by the site safety officer.`,
  },
  {
    label: 'report',
    text: `Project Status Report - ERP migration, week 18
Overall status: amber.
Progress: data mapping for finance and inventory is complete; user acceptance testing started on Monday with 42 of 120 test cases passed.
Risks and issues: the payroll interface is two weeks late; key users have limited availability in August.
Next steps: escalate payroll vendor delay to the steering committee; agree revised go-live date.`,
  },
  {
    label: 'form',
    text: `EMPLOYEE LEAVE REQUEST FORM
Employee name: ______________________   Employee ID: __________
Department: ______________________
Type of leave:  [ ] Annual   [ ] Sick   [ ] Unpaid   [ ] Other (please specify) ________
Dates requested: From ___/___/______ To ___/___/______   Number of days: _____
Employee signature: ____________________   Date: ___________
Manager approval:  [ ] Approved  [ ] Declined   Signature: ____________________`,
  },
  {
    label: 'form',
    text: `NEW CUSTOMER ACCOUNT APPLICATION
Please complete all sections in BLOCK CAPITALS and return to the credit control department.
Section 1 - Company details: Registered name, Trading address, Company registration number, VAT number.
Section 2 - Contact: Name, Position, Telephone, Email.
Section 3 - Trade references (two required).
Declaration: I confirm the information given is correct. Signed ________ Date ________
For office use only: Credit limit approved ______ Account no. ______`,
  },
  {
    label: 'form',
    text: `Expense Claim Form
Claimant: ________________  Cost centre: ________
Date | Description | Category (travel / meals / accommodation / other) | Amount
____ | ___________ | __________ | ______
____ | ___________ | __________ | ______
Total claimed: ________
Attach all receipts. Claims older than 90 days will not be reimbursed.
Claimant signature ________  Approver signature ________`,
  },
  {
    label: 'other',
    text: `Preheat the oven to 180C. Cream the butter and sugar until pale, then beat in the eggs one at a time. Fold in the flour and a pinch of salt, pour the batter into a lined tin and bake for 35 minutes until a skewer comes out clean. Leave to cool before icing.`,
  },
  {
    label: 'other',
    text: `The home side took the lead just before half time with a header from a corner, but the visitors equalised ten minutes after the break. A late penalty decided the match, and the win lifts them to third place in the table.`,
  },
  {
    label: 'other',
    text: `To reset the router, press and hold the reset button on the back for ten seconds until the power light flashes orange. Wait two minutes for the device to restart, then connect to the default wireless network printed on the label underneath.`,
  },
];

/** Two texts per default sensitivity level (PUBLIC … CONFIDENTIAL). */
export const SENSITIVITY_SMOKE_SET: readonly SmokeExample[] = [
  {
    label: 'PUBLIC',
    text: `FOR IMMEDIATE RELEASE
Northwind Traders opens its new distribution centre in Leeds, creating 120 jobs. The centre will serve customers across the north of England from September. Media contact: press@northwind.example`,
  },
  {
    label: 'PUBLIC',
    text: `Frequently asked questions: our stores are open from 8am to 8pm Monday to Saturday. You can return any item within 30 days with proof of purchase. Visit our website for store locations and opening times.`,
  },
  {
    label: 'INTERNAL',
    text: `Memo to all staff: the third-floor kitchen will be closed for refurbishment from Monday 6 May for two weeks. Please use the kitchen on the second floor. Internal use only.`,
  },
  {
    label: 'INTERNAL',
    text: `Team meeting notes, 14 March. Attendees: product and support. Action items: Priya to update the onboarding checklist; Tom to schedule the next retrospective; support rota for Easter agreed. Not for distribution outside the company.`,
  },
  {
    label: 'RESTRICTED',
    text: `RESTRICTED - finance team only. Key account price list 2024: Northwind Traders 18% discount, Redwood Analytics 12% discount, payment terms 60 days. Do not share outside the finance and sales leadership teams.`,
  },
  {
    label: 'RESTRICTED',
    text: `Supplier contract summary, limited distribution: MedLine Distribution framework agreement, volume commitment 250k per year, rebate 4% above 300k, renewal due 31 December. Circulated on a need-to-know basis to procurement.`,
  },
  {
    label: 'CONFIDENTIAL',
    text: `STRICTLY CONFIDENTIAL - Salary review 2024. Employee: Sofia Marin, National Insurance number QQ 12 34 56 C. Current salary 34,500; proposed salary 37,000. Bank account for payroll: 40308669, sort code 20-45-77.`,
  },
  {
    label: 'CONFIDENTIAL',
    text: `Confidential board minutes. The board discussed the proposed acquisition of Bluefin Data GmbH at a valuation of 48m. Legal counsel advised on regulatory risk. Information about the transaction must not be disclosed before the public announcement.`,
  },
];

/**
 * One more text per document type, written after the default descriptions were settled and
 * never used to tune them: a fresher (and still tiny) check than {@link TYPE_SMOKE_SET}.
 */
export const TYPE_FRESH_SET: readonly SmokeExample[] = [
  {
    label: 'invoice',
    text: `J. Okafor Plumbing & Heating
INVOICE  Ref: JO-556   Issued: 22 July 2024
Customer: Mrs A. Grant, 3 Willow Close
Replace kitchen mixer tap (parts) 64.00; Labour 1.5 h @ 48.00 = 72.00; Call-out 30.00
Total payable: 166.00. Payment by bank transfer within 7 days, please quote JO-556.`,
  },
  {
    label: 'purchase order',
    text: `St Mary's Academy - Purchase Order PO-3381
To: EduTech Direct Ltd
Please supply: 25 x Chromebook 11" @ 229.00; 25 x protective sleeve @ 12.50
Deliver to: IT Office, St Mary's Academy, by 1 September.
Budget code: ICT-CAP-24. Approved by the School Business Manager.`,
  },
  {
    label: 'receipt',
    text: `CITY CAB CO.
Trip receipt  #T-88213
Pickup 22:41 Central Station - Drop-off 22:58 Elm Street
Fare 18.40  Tip 2.60  Total charged 21.00
Card: AMEX ending 1009. Thank you for riding with City Cab.`,
  },
  {
    label: 'contract',
    text: `CONTRACT OF EMPLOYMENT
Employer: Northwind Traders Ltd. Employee: Sofia Marin.
Start date: 1 September 2024. Job title: Accounts Assistant. Salary: 27,000 per year, paid monthly.
Hours of work: 37.5 per week. Holiday: 25 days plus public holidays. Notice period: one month by either party.
This contract is governed by the law of England and Wales. Signed by both parties.`,
  },
  {
    label: 'letter',
    text: `To whom it may concern,

I have known Daniel Reyes for four years as his line manager at Bluefin Data. He is a reliable, careful analyst who earned the trust of clients and colleagues alike, and I recommend him without reservation.

Please contact me if you need any further information.

Best wishes,
Helen Ward, Head of Analytics`,
  },
  {
    label: 'report',
    text: `Customer Satisfaction Survey 2024 - Results
We received 1,240 responses (response rate 31%). Overall satisfaction rose from 7.2 to 7.8 out of 10. Delivery speed was the most improved area; phone support waiting times remain the main complaint (41% of negative comments).
Conclusion and recommendations: extend support hours and add a call-back option before the peak season.`,
  },
  {
    label: 'form',
    text: `PATIENT REGISTRATION FORM
Surname: ____________  First name(s): ____________  Date of birth: __/__/____
Address: ________________________________  Postcode: ________
Phone: ____________  Email: ____________
Do you have any allergies?  [ ] Yes  [ ] No   If yes, please give details: ____________
Signature: ____________  Date: ________`,
  },
  {
    label: 'other',
    text: `We spent our last morning in Lisbon wandering the steep lanes of Alfama, stopping for custard tarts and watching the yellow trams rattle past. In the afternoon we took the ferry across the river and watched the sun go down behind the bridge.`,
  },
];
